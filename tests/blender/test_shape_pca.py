"""A tracked head compressed to K principal shapes: each frame comes back within the reported error, the
error falls with K, and the frames keep their timeline places (real bpy)."""

import bpy
import numpy as np
import pytest

from backend.topology.template import load_head_template
from blender_addon import export, shape_pca, tracked
from tests.blender.conftest import evaluated

INDICES = (0, 1, 2, 3, 5, 6, 7, 8, 9, 10)  # source frame 4 was skipped: timeline frame 5 holds frame 3


def clip():
    t = load_head_template()
    rng = np.random.default_rng(0)
    modes = rng.normal(0, 0.002, (2, *t.vertices.shape)).astype(np.float32)  # two ways the face moves (metres)
    out = []
    for index in INDICES:
        w = np.array([np.sin(0.7 * index), np.cos(0.4 * index)])
        v = t.vertices + np.einsum("k,kvc->vc", w, modes) + rng.normal(0, 2e-5, t.vertices.shape)
        out.append({"index": index, "vertices": v.astype(np.float32), "faces": t.faces, "uv": t.uv,
                    "camera": {"head_pose": np.eye(4).tolist()}})  # fmt: skip
    return out


def test_principal_shapes_replace_the_frames_keys_within_the_reported_error(scene):
    frames = clip()
    for f in frames:
        tracked.add_tracked_frame(scene, "head", f)
    obj = bpy.data.objects["head"]
    errors = shape_pca.compress_tracked(obj, 2)
    assert [k.name for k in obj.data.shape_keys.key_blocks] == ["Basis", "mean", "pc01", "pc02"]
    assert errors[1][0] > 10 * errors[2][0]  # two modes: K = 1 misses one, K = 2 leaves only the noise
    assert errors[2][1] < 0.2  # mm, the largest miss of any vertex on any frame
    for t in range(1, 12):
        want = [f for f in frames if 1 + f["index"] <= t][-1]["vertices"]  # a skipped frame holds the last
        gap = np.linalg.norm(evaluated(obj, scene, t)[0] - want, axis=1) * 1000
        assert gap.max() < errors[2][1] + 1e-3, (t, gap.max())
    assert obj["headfuse_pca_errors_mm"]["2"][0] == errors[2][0]
    assert export.clip_range(scene, "head") == (1, 11)  # the exports still know the clip's frames
    with pytest.raises(ValueError, match="principal shapes"):  # a compressed head takes no more frames
        tracked.add_tracked_frame(scene, "head", frames[0])
