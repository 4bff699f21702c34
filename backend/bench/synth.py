"""`headfuse bench --only synth`: how fast the synthetic ground truth is made (one process)."""

import statistics
import time


def _median_time(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def run(args) -> dict:
    """Renders/s at 128 and 256 px (one camera per call and a batch of 4 views), point queries/s,
    visibility triplanes, reference mesh and a dataset item, as medians over a few repeats.

    Runs on one torch thread, as data generation does in DataLoader workers (many small ops:
    a second intra-op thread only adds synchronisation).
    """
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _run(args)
    finally:
        torch.set_num_threads(threads)


def _run(args) -> dict:
    import torch

    from backend.synth.cameras import sample_cameras
    from backend.synth.dataset import SynthImageDataset
    from backend.synth.expression import Expression
    from backend.synth.head import SynthHead
    from backend.synth.identity import Identity
    from backend.synth.lighting import Lighting
    from backend.synth.meshing import reference_mesh
    from backend.synth.render import render_gt
    from backend.synth.visibility import visibility_triplanes

    repeats = 2 if getattr(args, "quick", False) else 5
    gen = torch.Generator().manual_seed(0)
    head = SynthHead(Identity.sample(1), Expression(jaw_open=0.3, smile=0.5), Lighting.sample(gen))
    c2w, K = sample_cameras(4, gen)
    out: dict = {"threads": torch.get_num_threads(), "repeats": repeats}
    for res in (128, 256):
        t1 = _median_time(lambda r=res: render_gt(head, c2w[:1], K[:1], r), repeats)
        t4 = _median_time(lambda r=res: render_gt(head, c2w, K, r), repeats)
        out[f"renders_per_s_{res}"] = round(1.0 / t1, 2)
        out[f"renders_per_s_{res}_batch4"] = round(4.0 / t4, 2)
    pts = torch.rand(65536, 3) - 0.5
    t = _median_time(lambda: head.sdf(pts), repeats)
    out["gt_point_queries_per_s"] = round(pts.shape[0] / _median_time(lambda: head(pts[None]), repeats))
    out["sdf_queries_per_s"] = round(pts.shape[0] / t)
    vis_s = _median_time(lambda: visibility_triplanes(head, c2w[:1], K[:1], 32), repeats)
    out["visibility_triplanes_32_s"] = round(vis_s, 3)
    out["reference_mesh_128_s"] = round(_median_time(lambda: reference_mesh(head, 128), max(1, repeats // 2)), 3)
    ds = SynthImageDataset(1000, seed=0, resolution=128, n_targets=2, n_points=2048)
    counter = iter(range(1000))
    out["image_dataset_item_128_s"] = round(_median_time(lambda: ds[next(counter)], repeats), 3)
    return out
