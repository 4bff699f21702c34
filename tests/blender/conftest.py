"""Blender-as-a-module fixtures: a clean factory scene per test, HOME pointed at a temporary folder."""

import os
import tempfile

import numpy as np
import pytest

os.environ.setdefault("BLENDER_USER_RESOURCES", tempfile.mkdtemp(prefix="headfuse-blender-"))
bpy = pytest.importorskip("bpy", reason="bpy (Blender as a module) is installed by `make setup`")


@pytest.fixture
def scene():
    bpy.ops.wm.read_factory_settings(use_empty=True)
    return bpy.context.scene


def evaluated(obj, scene, t: int, subframe: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """`obj`'s evaluated vertices `[V, 3]` (shape keys, modifiers) and world matrix `[4, 4]` on frame `t`."""
    scene.frame_set(t, subframe=subframe)
    ev = obj.evaluated_get(bpy.context.evaluated_depsgraph_get())
    me = ev.to_mesh()
    co = np.empty(len(me.vertices) * 3, np.float32)
    me.vertices.foreach_get("co", co)
    ev.to_mesh_clear()
    return co.reshape(-1, 3), np.array(ev.matrix_world)
