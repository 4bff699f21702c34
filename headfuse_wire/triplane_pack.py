"""How a triplane and its decoder are laid out for the preview shader (numpy only, no bpy).

One definition for both places the shader runs: the add-on's viewport preview and the backend's
headless moderngl twin (`backend/render/glsl.py`), which imports it as it imports `protocol.py`.
The layout itself is documented in the header of `shaders/triplane_raymarch.frag`.
"""

import numpy as np

MAX_CHANNELS = 32
"""Most plane channels the shader's decoder takes."""
MAX_HIDDEN = 128
"""Most hidden units of the decoder MLP."""
MAX_UBO_BYTES = 16384
"""Size of the uniform buffer the packed decoder must fit in."""


def channel_groups(n: int) -> int:
    """vec4s that hold `n` channels."""
    return (n + 3) // 4


def hidden_groups(hidden: int) -> int:
    """vec4s that hold `hidden` units, padded to the shader's blocks of 16."""
    return 4 * ((hidden + 15) // 16)


def weight_vec4s(channels: int, hidden: int) -> int:
    """Length in vec4s of the packed decoder for `channels` plane channels and `hidden` units."""
    cg, hg = channel_groups(channels), hidden_groups(hidden)
    return 4 * hg * cg + 5 * hg + 1


def check_decoder(arr: dict[str, np.ndarray]) -> tuple[int, int]:
    """Validate float32 w1 `[hidden, C]`, b1 `[hidden]`, w2 `[1 + F, hidden]`, b2 `[1 + F]`; returns
    (hidden, channels). Raises ValueError naming what was expected."""
    if arr["w1"].ndim != 2:
        raise ValueError(f"decoder w1 must be [hidden, C], got {arr['w1'].shape}")
    hidden, channels = arr["w1"].shape
    if arr["b1"].shape != (hidden,):
        raise ValueError(f"decoder b1 must be [{hidden}], got {arr['b1'].shape}")
    if arr["w2"].ndim != 2 or arr["w2"].shape[1] != hidden or arr["w2"].shape[0] < 4:
        raise ValueError(f"decoder w2 must be [1 + F >= 4, {hidden}], got {arr['w2'].shape}")
    if arr["b2"].shape != (arr["w2"].shape[0],):
        raise ValueError(f"decoder b2 must be [{arr['w2'].shape[0]}], got {arr['b2'].shape}")
    for k, v in arr.items():
        if not np.isfinite(v).all():
            raise ValueError(f"decoder {k} contains {int((~np.isfinite(v)).sum())} NaN/inf values")
    if channels > MAX_CHANNELS or hidden > MAX_HIDDEN or 16 * weight_vec4s(channels, hidden) > MAX_UBO_BYTES:
        raise ValueError(
            f"decoder with {channels} channels and {hidden} hidden units is too large for the preview (at most "
            f"{MAX_CHANNELS} channels, {MAX_HIDDEN} hidden units and {MAX_UBO_BYTES // 1024} KiB of weights)"
        )
    return hidden, channels


def pack_checked_decoder(arr: dict[str, np.ndarray]) -> np.ndarray:
    """Checked decoder arrays -> the shader's uniform buffer `[weight_vec4s, 4]` float32.

    W1 is divided by 3: the shader sums the three planes, the renderer averages them.
    """
    hidden, channels = arr["w1"].shape
    cg, hg = channel_groups(channels), hidden_groups(hidden)
    w1 = np.zeros((4 * hg, 4 * cg), np.float32)
    w1[:hidden, :channels] = arr["w1"] / 3.0
    b1 = np.zeros(4 * hg, np.float32)
    b1[:hidden] = arr["b1"]
    w2 = np.zeros((4, 4 * hg), np.float32)  # density, r, g, b
    w2[:, :hidden] = arr["w2"][:4]
    out = np.concatenate([w1.reshape(-1), b1, w2.reshape(-1), arr["b2"][:4]])
    return out.reshape(weight_vec4s(channels, hidden), 4)


def pack_checked_planes(p: np.ndarray) -> np.ndarray:
    """A checked float32 triplane `[3, C, H, W]` -> texture array `[3 * C/4, H + 2, W + 2, 4]`.

    Layer `plane * C/4 + group` holds channels 4*group.. of that plane as RGBA, framed by one texel
    of zeros (grid_sample's zero padding); channels are zero-padded to a multiple of 4.
    """
    _, c, h, w = p.shape
    cg = channel_groups(c)
    out = np.zeros((3, cg * 4, h + 2, w + 2), np.float32)
    out[:, :c, 1:-1, 1:-1] = p
    out = out.reshape(3, cg, 4, h + 2, w + 2).transpose(0, 1, 3, 4, 2)
    return np.ascontiguousarray(out.reshape(3 * cg, h + 2, w + 2, 4))
