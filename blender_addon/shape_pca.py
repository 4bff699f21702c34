"""A tracked head's per-frame shape keys compressed to K principal shapes with per-frame weights: the clip's
mean shape as one key, then K keys along the principal directions of the frames' deviation from it, each
weighted per frame in [-1, 1]. Editable (sculpt a principal shape, retime its weights) and small (K + 1 keys
for any clip length). The numbers are pure numpy; `compress_tracked` applies them to the object (bpy)."""

import numpy as np

from .importer import object_fcurves

ERROR_KS = (1, 2, 4, 8, 16, 32, 64)
"""The K whose reconstruction error is reported."""

Shapes = tuple[np.ndarray, np.ndarray, np.ndarray]
"""What `principal_shapes` returns: the mean `[V, 3]`, the directions `[K, V, 3]` and the weights `[T, K]`."""


def principal_shapes(frames: np.ndarray, k: int) -> Shapes:
    """`frames [T, V, 3]` -> the mean shape `[V, 3]`, K principal directions `[K, V, 3]` (unit, K <= T) and
    each frame's weights `[T, K]`: frame t is mean + sum_k weights[t, k] * directions[k], up to the error."""
    t = len(frames)
    x = frames.reshape(t, -1).astype(np.float64)
    mean = x.mean(axis=0)
    u, s, vt = np.linalg.svd(x - mean, full_matrices=False)
    k = min(k, len(s))
    return mean.reshape(-1, 3), vt[:k].reshape(k, -1, 3), u[:, :k] * s[:k]


def reconstruction_errors(frames: np.ndarray, ks: tuple[int, ...] = ERROR_KS,
                          shapes: Shapes | None = None) -> dict[int, tuple[float, float]]:  # fmt: skip
    """For each K in `ks` (up to the frame count): the mean and the largest distance (the frames' units) of
    a vertex from where K principal shapes put it, over all frames. `shapes`: `principal_shapes(frames, K)`
    for a K of at least `max(ks)`, when already made."""
    mean, directions, weights = shapes if shapes is not None else principal_shapes(frames, max(ks))
    out = {}
    for k in sorted({min(k, len(weights[0])) for k in ks}):
        approx = mean + np.einsum("tk,kvc->tvc", weights[:, :k], directions[:k])
        gap = np.linalg.norm(approx - frames, axis=2)
        out[k] = (float(gap.mean()), float(gap.max()))
    return out


def compress_tracked(obj, k: int) -> dict[int, tuple[float, float]]:
    """Replace a tracked object's per-frame shape keys by the mean shape and `k` principal shapes (relative
    to its reference key, whatever its name), their weights keyed on each frame's timeline frame (CONSTANT,
    so a skipped frame holds as before). Returns
    `reconstruction_errors` in millimetres, also kept on the object (`headfuse_pca_errors_mm`)."""
    keys, at = obj.data.shape_keys, obj["headfuse_key_frames"]
    names = sorted(at.keys(), key=lambda n: at[n])
    if len(names) < 2:
        raise ValueError(f"{obj.name}: {len(names)} frame(s): nothing to compress")
    n = len(obj.data.vertices)
    frames = np.empty((len(names), n * 3), np.float32)
    for i, name in enumerate(names):
        keys.key_blocks[name].data.foreach_get("co", frames[i])
    frames = frames.reshape(len(names), n, 3)
    ks = tuple(sorted({*ERROR_KS, k}))
    mean, directions, weights = shapes = principal_shapes(frames, max(ks))
    errors = {kk: (m * 1000, top * 1000) for kk, (m, top) in reconstruction_errors(frames, ks, shapes).items()}
    directions, weights = directions[:k], weights[:, :k]
    scale = np.abs(weights).max(axis=0).clip(min=1e-12)  # [K]: weights / scale within [-1, 1]
    basis = keys.reference_key
    keys.animation_data_clear()
    for name in names:
        obj.shape_key_remove(keys.key_blocks[name])
    shapes = [("mean", mean, None)] + [(f"pc{j + 1:02d}", mean + directions[j] * scale[j], weights[:, j] / scale[j])
                                      for j in range(len(scale))]  # fmt: skip
    times = [int(at[name]) for name in names]
    for name, co, values in shapes:
        block = obj.shape_key_add(name=name, from_mix=False)
        block.data.foreach_set("co", co.astype(np.float32).ravel())
        block.slider_min = -1.0 if values is not None else 0.0
        block.relative_key = basis if values is None else keys.key_blocks["mean"]  # pcs: moves from the mean
        if values is None:
            block.value = 1.0
            continue
        for t, v in zip(times, values, strict=True):
            block.value = float(v)
            block.keyframe_insert("value", frame=t)
    for curve in object_fcurves(keys):
        for point in curve.keyframe_points:
            point.interpolation = "CONSTANT"
    obj["headfuse_pca"] = len(scale)  # headfuse_key_frames stays: the frames' timeline places (exports' range)
    obj["headfuse_pca_errors_mm"] = {str(kk): list(v) for kk, v in errors.items()}
    return errors
