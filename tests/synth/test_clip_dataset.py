"""The clip command writes what it promises; datasets are deterministic across workers."""

import json
from pathlib import Path

import cv2
import numpy as np
import torch
from torch.utils.data import DataLoader

from backend.cli import main
from backend.synth import SAMPLE_CLIP_DIR
from backend.synth.clip import head_at_frame
from backend.synth.dataset import SynthClipDataset, SynthImageDataset
from backend.synth.meshing import load_mesh_npz
from backend.synth.render import render_gt

SAMPLE = SAMPLE_CLIP_DIR


def _check_clip(out: Path, frames: int, views: int, size: int, view_size: int, mesh_every: int):
    cap = cv2.VideoCapture(str(out / "video.mp4"))
    n = 0
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        assert frame.shape == (size, size, 3)
        n += 1
    assert n == frames
    ref = cv2.imread(str(out / "reference.png"))
    assert ref.shape == (size, size, 3) and ref.std() > 10
    cams = json.loads((out / "cameras.json").read_text())
    params = json.loads((out / "params.json").read_text())
    assert cams["format"] == "headfuse-synth-clip" and len(cams["per_frame"]) == frames
    assert all(len(f["views"]) == views for f in cams["per_frame"])
    assert len(params["per_frame"]) == frames and len(params["keypoint_names"]) == 8
    for j in range(views):
        pngs = sorted((out / "views" / f"view_{j}").glob("*.png"))
        assert len(pngs) == frames
        depth = np.load(out / "views" / f"view_{j}" / "depth.npz")["depth"]
        assert depth.shape == (frames, view_size, view_size) and (depth > 0).mean() > 0.1
    meshes = sorted((out / "meshes").glob("*.npz"))
    assert len(meshes) == len(range(0, frames, mesh_every))
    mesh = load_mesh_npz(meshes[0])
    assert mesh.faces.shape[0] > 1000 and 0.15 < np.ptp(mesh.vertices[:, 1]) < 0.4  # metres
    return cams, params


def test_clip_command_writes_what_it_promises(tmp_path):
    out = tmp_path / "clip"
    rc = main(["synth", "clip", "--seed", "7", "--frames", "3", "--out", str(out), "--size", "64", "--views", "2",
               "--view-size", "48", "--mesh-every", "2", "--mesh-resolution", "48"])
    assert rc == 0
    cams, params = _check_clip(out, 3, 2, 64, 48, 2)
    # the ground truth is exact: the params rebuild the head that made the view images
    t, j = 2, 1
    head = head_at_frame(params, t)
    view = cams["per_frame"][t]["views"][j]
    again = render_gt(head, torch.tensor([view["cam2world"]]), torch.tensor([view["intrinsics"]]), 48,
                      shoulders=torch.tensor(params["per_frame"][t]["shoulders"]))
    png = cv2.cvtColor(cv2.imread(str(out / "views" / f"view_{j}" / f"{t:04d}.png"), cv2.IMREAD_UNCHANGED),
                       cv2.COLOR_BGRA2RGBA)
    rgb = (again["rgb"][0].permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8)
    assert np.abs(png[..., :3].astype(int) - rgb.astype(int)).max() <= 1
    assert np.array_equal(png[..., 3] > 127, again["mask"][0, 0].numpy() > 0.5)


def test_shipped_sample_clip_is_complete():
    readme = (SAMPLE / "README.md").read_text()
    assert "headfuse synth clip" in readme
    params = json.loads((SAMPLE / "params.json").read_text())
    cams = json.loads((SAMPLE / "cameras.json").read_text())
    _check_clip(SAMPLE, params["frames"], cams["n_views"], cams["size"], cams["view_size"], params["mesh_every"])
    assert sum(f.stat().st_size for f in SAMPLE.rglob("*") if f.is_file()) < 5 * 1024 * 1024


def test_image_dataset_is_deterministic_across_workers():
    ds = SynthImageDataset(4, seed=3, resolution=48, n_targets=2, target_resolution=32, n_points=256)
    # DataLoader workers run torch on one thread; the renderer's sums round differently with more
    # (1e-5 on some CPUs), so the direct items are made on one thread too, to compare bit for bit.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        made = {i: ds[i] for i in (2, 0, 3, 1)}  # another order than the loader's
    finally:
        torch.set_num_threads(threads)
    direct = [made[i] for i in range(4)]
    loaded = next(iter(DataLoader(ds, batch_size=4, num_workers=2)))
    for key in ("image", "target_rgb", "points", "point_density", "keypoints_uv"):
        assert torch.equal(loaded[key], torch.stack([d[key] for d in direct])), key
    a = direct[0]
    assert a["image"].shape == (3, 48, 48) and a["target_rgb"].shape == (2, 3, 32, 32)
    assert a["points"].shape == (256, 3) and a["point_density"].shape == (256, 1)
    assert not torch.equal(direct[0]["image"], direct[1]["image"])
    assert (a["point_density"] > 25).any() and (a["point_density"] < 25).any()


def test_clip_dataset_item():
    ds = SynthClipDataset(2, seed=1, frames=2, resolution=32, visibility_resolution=16)
    item = ds[1]
    assert item["frames"].shape == (2, 3, 32, 32) and item["frontal"].shape == (2, 3, 32, 32)
    assert item["visibility"].shape == (2, 3, 1, 16, 16) and item["reference"].shape == (3, 32, 32)
    assert torch.equal(item["frames"], ds[1]["frames"])
