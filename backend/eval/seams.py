"""Whether chunk boundaries show: the temporal variation of a clip's triplanes across the starts of its
chunks against within them (a batch's chunks start warm so that they do not)."""

import numpy as np


def stored_planes(store, job: str, count: int) -> list[np.ndarray]:
    """The triplanes `[3, C, H, W]` (float32) of frames 0..count-1 of a job in a `server.store.JobStore`
    stored with `triplanes`; a frame without one (skipped) is a ValueError naming it."""
    planes = []
    for seq in range(count):
        header, buffers = store.read_frame(job, seq, verify=True)
        names = [b["name"] for b in header["buffers"]]
        if "planes" not in names:
            raise ValueError(f"job {job} frame {seq} (source {header['index']}): no triplane stored")
        desc = header["buffers"][names.index("planes")]
        arr = np.frombuffer(buffers[names.index("planes")], dtype=np.float16).reshape(desc["shape"])
        planes.append(arr.astype(np.float32))
    return planes


def seam_variation(planes: list[np.ndarray], chunk_starts: list[int]) -> dict:
    """Temporal variation across chunk boundaries against within chunks.

    `planes`: per-frame canonical triplanes `[3, C, H, W]` in frame order (the field in the fixed head
    frame, so consecutive frames are comparable whatever the mesh); `chunk_starts`: positions where a chunk
    begins (0 and those past the end are ignored). The change of frame p is `mean |T_p - T_{p-1}|`; returns
    `{"across", "within", "ratio"}` with the mean change at chunk starts, elsewhere, and their ratio
    (about 1 when boundaries do not show)."""
    if len(planes) < 3:
        raise ValueError(f"seam_variation: need at least 3 frames, got {len(planes)}")
    change = np.array([float(np.mean(np.abs(planes[p] - planes[p - 1]))) for p in range(1, len(planes))])
    starts = {p for p in chunk_starts if 0 < p < len(planes)}
    if not starts or len(starts) == len(change):
        raise ValueError("seam_variation: need both frames at chunk starts and frames within chunks")
    mask = np.array([p in starts for p in range(1, len(planes))])
    across, within = float(change[mask].mean()), float(change[~mask].mean())
    return {"across": across, "within": within, "ratio": across / within if within > 0 else float("inf")}
