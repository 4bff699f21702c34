"""Build the installable Blender extension zip: the add-on's files, the wire package, the preview shaders,
and pyzmq wheels for Linux, macOS and Windows (Blender's Python 3.11), as listed in blender_addon/blender_manifest.toml.

    python scripts/build_addon.py --out out/headfuse-addon.zip
    python scripts/build_addon.py --out out/headfuse-addon.zip --split-platforms   # one smaller zip per platform
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
BLENDER_PLATFORMS = {"linux-x64": "manylinux", "macos-arm64": "macosx", "macos-x64": "macosx", "windows-x64": "win"}
"""Blender's platform names -> the wheel (by its tag) that serves each (macOS: one universal2 wheel)."""


def platform_manifest(text: str, platform: str) -> tuple[str, list[str]]:
    """The manifest `text` of the zip for one Blender `platform`: `platforms` only that one and only its
    wheel; returns the text and the wheel names it keeps."""
    key = BLENDER_PLATFORMS[platform]
    names = [n for n in re.findall(r'"\./wheels/([^"]+\.whl)"', text) if key in n]
    wheels = "wheels = [\n" + "".join(f'  "./wheels/{n}",\n' for n in names) + "]"
    text = re.sub(r"wheels = \[[^\]]*\]", lambda _: wheels, text)
    text = re.sub(r"platforms = \[[^\]]*\]", lambda _: f'platforms = ["{platform}"]', text)
    return text, names


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


def build(out: Path, wheel_cache: Path, platform: str | None = None) -> Path:
    """Write the extension zip to `out` (for one Blender `platform` only: its wheel and manifest)."""
    manifest = (ADDON / "blender_manifest.toml").read_text()
    names = wheel_names()
    if platform is not None:
        manifest, names = platform_manifest(manifest, platform)
    wheel_cache.mkdir(parents=True, exist_ok=True)
    fetch_wheels(wheel_cache, names)
    out.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for path in sorted(ADDON.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
                if path.name == "blender_manifest.toml":
                    z.writestr("blender_manifest.toml", manifest)
                else:
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
    parser.add_argument("--split-platforms", action="store_true",
                        help="one zip per Blender platform (NAME-linux-x64.zip, ...), each with only its wheel")
    args = parser.parse_args()
    if args.split_platforms:
        for platform in BLENDER_PLATFORMS:
            print(f"wrote {build(args.out.with_name(f'{args.out.stem}-{platform}.zip'), args.wheels, platform)}")
    else:
        print(f"wrote {build(args.out, args.wheels)}")
