"""The add-on finds the wire package bundled inside it, as `make addon` lays it out in the zip."""

import importlib
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_installed_layout_uses_the_bundled_wire_package(tmp_path, monkeypatch):
    package = tmp_path / "headfuse_installed"
    shutil.copytree(ROOT / "blender_addon", package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "headfuse_wire", package / "headfuse_wire", ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        wire = importlib.import_module("headfuse_installed.wire")
        assert wire.protocol.__name__ == "headfuse_installed.headfuse_wire.protocol"
        assert wire.options.__name__ == "headfuse_installed.headfuse_wire.options"
        assert set(wire.protocol.OPTIONS.fields) == set(wire.options.wire_option_names()) | {"name"}
    finally:
        for name in [n for n in sys.modules if n.startswith("headfuse_installed")]:
            del sys.modules[name]


def test_a_checkout_uses_the_repository_wire_package():
    from blender_addon import wire

    assert wire.protocol.__name__ == "headfuse_wire.protocol"


def test_each_platforms_zip_declares_its_platform_and_carries_only_its_wheel():
    import tomllib

    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        from build_addon import BLENDER_PLATFORMS, platform_manifest
    finally:
        sys.path.remove(str(ROOT / "scripts"))
    full = (ROOT / "blender_addon" / "blender_manifest.toml").read_text()
    assert tomllib.loads(full)["blender_version_max"] == "5.1.0"  # the wheels are for Python 3.11
    for platform, tag in BLENDER_PLATFORMS.items():
        text, names = platform_manifest(full, platform)
        manifest = tomllib.loads(text)
        assert manifest["platforms"] == [platform]
        assert len(manifest["wheels"]) == 1 and tag in manifest["wheels"][0] and names == [manifest["wheels"][0][9:]]
