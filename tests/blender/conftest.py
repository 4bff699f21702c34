"""Blender-as-a-module fixtures: a clean factory scene per test, HOME pointed at a temporary folder."""

import os
import tempfile

import pytest

os.environ.setdefault("BLENDER_USER_RESOURCES", tempfile.mkdtemp(prefix="headfuse-blender-"))
bpy = pytest.importorskip("bpy", reason="bpy (Blender as a module) is installed by `make setup`")


@pytest.fixture
def scene():
    bpy.ops.wm.read_factory_settings(use_empty=True)
    return bpy.context.scene
