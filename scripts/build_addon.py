"""Build the installable Blender extension zip: the add-on's files, the wire package, the preview shaders,
and pyzmq wheels for Linux, macOS and Windows (Blender's Python 3.11), as listed in blender_addon/blender_manifest.toml.

    python scripts/build_addon.py --out out/headfuse-addon.zip
"""

import argparse
import re
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ADDON = ROOT / "blender_addon"
PLATFORMS = {"manylinux": "manylinux_2_28_x86_64", "macosx": "macosx_10_15_universal2", "win": "win_amd64"}


def wheel_names() -> list[str]:
    """The wheel file names the manifest lists."""
    text = (ADDON / "blender_manifest.toml").read_text()
    return re.findall(r'"\./wheels/([^"]+\.whl)"', text)


def fetch_wheels(folder: Path, names: list[str]) -> None:
    """Download each listed wheel (PyPI) unless it is already in `folder`."""
    for name in names:
        if (folder / name).exists():
            continue
        package, version = name.split("-")[:2]
        platform = next(p for key, p in PLATFORMS.items() if key in name)
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "-q",
                "--no-deps",
                "--only-binary=:all:",
                "--python-version",
                "3.11",
                "--platform",
                platform,
                f"{package}=={version}",
                "-d",
                str(folder),
            ],
            check=True,
        )
        if not (folder / name).exists():
            raise SystemExit(f"pip did not produce {name}; update the wheels list in blender_manifest.toml")


def build(out: Path, wheel_cache: Path) -> Path:
    """Write the extension zip to `out`."""
    names = wheel_names()
    wheel_cache.mkdir(parents=True, exist_ok=True)
    fetch_wheels(wheel_cache, names)
    out.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for path in sorted(ADDON.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
                z.write(path, path.relative_to(ADDON).as_posix())
        for path in sorted((ROOT / "shaders").glob("*.*")):  # the preview's GLSL, one copy shared with the backend
            z.write(path, f"shaders/{path.name}")
        for path in sorted((ROOT / "headfuse_wire").glob("*.py")):  # the wire package, shared with the backend
            z.write(path, f"headfuse_wire/{path.name}")
        for name in names:
            z.write(wheel_cache / name, f"wheels/{name}")
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "out" / "headfuse-addon.zip")
    parser.add_argument("--wheels", type=Path, default=Path(tempfile.gettempdir()) / "headfuse-addon-wheels")
    args = parser.parse_args()
    print(f"wrote {build(args.out, args.wheels)}")
