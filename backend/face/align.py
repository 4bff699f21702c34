"""The alignment crop: a similarity (scale + translation) of the source frame to the canonical framing.

The crop is centred on the image of the pivot and its side is the canonical frame span (radius /
focal box units) at the pivot's solved depth, so box units at the pivot have in the crop the size
the canonical camera gives them. Roll is not undone by the crop: it stays in the camera.

Pixel coordinates are continuous throughout (the image spans 0..W: pixel i covers [i, i+1)), the
convention of normalized intrinsics times the image size. `matrix` maps source pixels to crop pixels.
"""

from dataclasses import dataclass

import cv2
import numpy as np

_TO_INT = np.array([[1.0, 0.0, -0.5], [0.0, 1.0, -0.5], [0.0, 0.0, 1.0]])
_TO_CONT = np.array([[1.0, 0.0, 0.5], [0.0, 1.0, 0.5], [0.0, 0.0, 1.0]])


@dataclass
class AlignedCrop:
    """One aligned crop."""

    image: np.ndarray
    """RGB uint8 `[S, S, 3]`."""
    matrix: np.ndarray
    """`[3, 3]` float64: source pixel (x, y, 1) -> crop pixel (x, y, 1)."""


def crop_matrix(centre, side: float, size: int) -> np.ndarray:
    """`[3, 3]` similarity mapping the source square of `side` pixels around `centre [2]` onto `size` pixels."""
    s = size / float(side)
    cx, cy = float(centre[0]), float(centre[1])
    return np.array([[s, 0.0, size / 2.0 - s * cx], [0.0, s, size / 2.0 - s * cy], [0.0, 0.0, 1.0]])


def warp_similarity(image: np.ndarray, matrix: np.ndarray, size: int, border: str = "replicate") -> np.ndarray:
    """Resample `image [H, W, C]` through the similarity `matrix [3, 3]` (continuous pixels) to `[size, size, C]`.

    Minification is anti-aliased: the covered region is first reduced with area averaging, then the
    remaining sub-pixel similarity is applied bilinearly.
    """
    matrix = np.asarray(matrix, dtype=np.float64)
    scale = float(np.sqrt(abs(np.linalg.det(matrix[:2, :2]))))
    mode = cv2.BORDER_REPLICATE if border == "replicate" else cv2.BORDER_CONSTANT
    if scale < 0.5:
        inv = np.linalg.inv(matrix)
        corners = inv @ np.array([[0.0, size, 0.0, size], [0.0, 0.0, size, size], [1.0, 1.0, 1.0, 1.0]])
        height, width = image.shape[:2]
        x0 = int(np.clip(np.floor(corners[0].min()) - 2, 0, width - 1))
        y0 = int(np.clip(np.floor(corners[1].min()) - 2, 0, height - 1))
        x1 = int(np.clip(np.ceil(corners[0].max()) + 2, x0 + 1, width))
        y1 = int(np.clip(np.ceil(corners[1].max()) + 2, y0 + 1, height))
        region = image[y0:y1, x0:x1]
        new_w = max(1, int(round((x1 - x0) * scale * 1.5)))
        new_h = max(1, int(round((y1 - y0) * scale * 1.5)))
        reduced = cv2.resize(region, (new_w, new_h), interpolation=cv2.INTER_AREA)
        into_region = np.array(
            [
                [new_w / (x1 - x0), 0.0, -x0 * new_w / (x1 - x0)],
                [0.0, new_h / (y1 - y0), -y0 * new_h / (y1 - y0)],
                [0, 0, 1],
            ]
        )
        image, matrix = reduced, matrix @ np.linalg.inv(into_region)
    affine = (_TO_INT @ matrix @ _TO_CONT)[:2]
    return cv2.warpAffine(image, affine, (size, size), flags=cv2.INTER_LINEAR, borderMode=mode)


def align_crop(image: np.ndarray, centre, side: float, size: int, border: str = "replicate") -> AlignedCrop:
    """Crop `image [H, W, 3]` to the square of `side` source pixels around `centre [2]`, at `size` pixels."""
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"align_crop expects an RGB image [H, W, 3], got {image.shape}")
    if not side > 0:
        raise ValueError(f"align_crop needs a positive crop side, got {side}")
    matrix = crop_matrix(centre, side, size)
    return AlignedCrop(warp_similarity(image, matrix, size, border), matrix)
