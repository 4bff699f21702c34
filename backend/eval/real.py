"""`headfuse eval --protocol real VIDEO --ref IMAGE`: real footage, no ground truth.

Every reconstructed frame's textured mesh is rendered (unlit, over grey) through the solved plate
camera and through the head camera turned about the head's vertical axis by each of `yaws`, and
judged by what a face detector and a face recognizer make of it:

- `plate.found`: the share of plate-view renders in which MediaPipe finds a face;
- `plate.nme`: the face-mesh landmarks of the plate-view render against the plate's own, mean distance
  over the 478 points divided by the plate's outer-eye-corner distance (landmarks 33 and 263);
- `plate.psnr`, `plate.ssim`: the render against the plate inside the face (the hull of the plate's
  landmarks, where the render covers it);
- `yaw[d].found`: the share of renders from the head camera turned by d degrees in which a face is found;
- `yaw[d].identity`: dlib's 128-d identity distance between the reference image and those renders
  (`same` is the share under dlib's 0.6; a render with no face counts as not the same);
- `flicker`: the mean frame-to-frame change of the face texels (the texels the plate camera sees inside
  the face in both frames, 0..255) against the plate's own change over the aligned face crops, and their
  `ratio` (1 changes as much as the footage does; flicker shows as more).
"""

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw
from skimage.metrics import structural_similarity
from tqdm import tqdm

from backend.face.detect import FaceDetector
from backend.face.identity import DLIB_SAME_PERSON, FaceIdentity, identity_distance
from backend.mesh.raster import camera_raster, raster_uv, render_textured, shade_textured, texture_pixels
from backend.pipeline import reconstruct_clip
from backend.render.cameras import turn_camera
from backend.units import metres_to_box
from backend.video import open_video, read_image
from headfuse_wire.options import ReconstructConfig

GREY = (0.5, 0.5, 0.5)
EYE_CORNERS = (33, 263)
"""MediaPipe face-mesh indices of the outer eye corners (the NME's normaliser)."""
TILE = 160


@dataclass
class RealEvalConfig:
    """What the real-footage evaluation renders and how many frames it takes."""

    yaws: tuple[float, ...] = (-60.0, -30.0, 30.0, 60.0)
    """Degrees the head camera is turned about the head's vertical axis for the off-plate renders."""
    frames: int | None = None
    """Frames of the video to take from the start (None: all)."""
    max_side: int = 640
    """Renders are made at the plate's size, scaled down to this longest side."""
    sheet_rows: int = 6
    """Frames shown in the contact sheet, spread over the clip."""


def face_hull(landmarks: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """`[H, W]` bool: the convex hull of landmarks `[N, 2+]` (pixels)."""
    mask = np.zeros(shape, np.uint8)
    hull = cv2.convexHull(np.round(landmarks[:, :2]).astype(np.int32))
    cv2.fillConvexPoly(mask, hull, 1)
    return mask.astype(bool)


def landmark_nme(pred: np.ndarray, truth: np.ndarray) -> float:
    """Mean 2-D distance between landmark sets `[478, 2+]` over the truth's outer-eye-corner distance."""
    norm = np.linalg.norm(truth[EYE_CORNERS[0], :2] - truth[EYE_CORNERS[1], :2])
    return float(np.linalg.norm(pred[:, :2] - truth[:, :2], axis=1).mean() / max(norm, 1e-6))


def masked_psnr_ssim(render: np.ndarray, plate: np.ndarray, mask: np.ndarray) -> tuple[float, float]:
    """PSNR (dB) and mean SSIM of uint8 images `[H, W, 3]` over the pixels of `mask [H, W]`."""
    a, b = render.astype(np.float64) / 255.0, plate.astype(np.float64) / 255.0
    mse = max(float(((a[mask] - b[mask]) ** 2).mean()), 1e-10)
    _, smap = structural_similarity(a, b, channel_axis=2, data_range=1.0, full=True)
    return -10.0 * math.log10(mse), float(smap[mask].mean())


def _scaled(K: np.ndarray, width: int, height: int, max_side: int) -> tuple[np.ndarray, int, int, float]:
    s = min(1.0, max_side / max(width, height))
    K = np.array(K, dtype=np.float64)
    K[:2] *= s
    return K, max(1, round(width * s)), max(1, round(height * s)), s


def _face_texels(raster, mesh, face: np.ndarray, size: int) -> np.ndarray:
    """`[T, T]` bool: texels that `raster` (the plate camera's) sees inside the face mask `face [h, w]`."""
    out = np.zeros((size, size), bool)
    inside = face[raster.mask]  # the seen pixels, in raster_uv's order, that are in the face
    if inside.any():
        xy = texture_pixels(raster_uv(raster, mesh.faces, mesh.uv)[inside], size).astype(np.int64).clip(0, size - 1)
        out[xy[:, 1], xy[:, 0]] = True
    return out


@dataclass
class _Tally:
    found: list = field(default_factory=list)
    values: dict = field(default_factory=dict)

    def add(self, name, value):
        self.values.setdefault(name, []).append(value)


def _mean(xs):
    xs = [x for x in xs if x is not None]
    return round(float(np.mean(xs)), 4) if xs else None


def evaluate_real(
    video: str | Path, reference: str | Path, job: ReconstructConfig, cfg: RealEvalConfig | None = None,
    lifter=None, fusion=None, progress: bool = True,
) -> dict:
    """Reconstruct `video` against `reference` with the job options `job` and score it (module docstring).
    Returns the report (`summary`, per-frame `frames`) and, under `sheet`, the contact sheet `[H, W, 3]`."""
    cfg = cfg or RealEvalConfig()
    if cfg.frames is not None:
        job = ReconstructConfig(**{**asdict(job), "stop": job.start + cfg.frames * job.stride})
    job.validate()
    identity = FaceIdentity()
    ref_image = read_image(reference)
    reader = open_video(video)
    plates, total = reader.frames(job.start, job.stop, job.stride), reader.info.frame_count
    plate_tally, yaw_tally = _Tally(), {y: _Tally() for y in cfg.yaws}
    rows, per_frame, previous = [], [], None
    texture_changes, plate_changes = [], []
    with FaceDetector() as detector:
        ref_boxes = detector.detect(ref_image)
        if not ref_boxes:
            raise ValueError(f"{reference}: no face found in the reference image")
        ref_embedding = identity.embed(ref_image, max(ref_boxes, key=lambda b: b.size).as_array())
        frames = reconstruct_clip(video, reference, job, lifter=lifter, fusion=fusion)
        bar = tqdm(frames, total=None if total is None else min(total, job.stop or total) - job.start,
                   desc="eval real", unit="frame", disable=not progress)
        for out in bar:
            plate = next(p for p in plates if p.index == out.index).image
            if out.mesh is None:
                per_frame.append({"index": out.index, "status": out.status, "reason": out.reason})
                plate_tally.found.append(False)
                for y in cfg.yaws:
                    yaw_tally[y].found.append(False)
                previous = None
                continue
            mesh, cam = out.mesh, out.camera
            verts = metres_to_box(mesh.vertices.astype(np.float64))
            c2w = np.array(cam["source_cam2world"], dtype=np.float64)
            c2w[:3, 3] = metres_to_box(c2w[:3, 3])
            K, w, h, s = _scaled(cam["source_intrinsics"], plate.shape[1], plate.shape[0], cfg.max_side)
            small = np.asarray(Image.fromarray(plate).resize((w, h), Image.BILINEAR)) if s < 1 else plate
            record = {"index": out.index, "status": out.status}
            plate_raster = camera_raster(verts, mesh.faces, c2w, K, w, h)
            render, covered = shade_textured(plate_raster, mesh.faces, mesh.uv, mesh.texture, GREY), plate_raster.mask
            boxes = detector.detect(render)
            plate_tally.found.append(bool(boxes))
            record["plate_found"] = bool(boxes)
            plate_boxes = detector.detect(small)
            truth = detector.landmarks(small, max(plate_boxes, key=lambda b: b.size)) if plate_boxes else None
            face = face_hull(truth, (h, w)) & covered if truth is not None else None
            if truth is not None and face.sum() > 50:
                p, q = masked_psnr_ssim(render, small, face)
                plate_tally.add("psnr", p)
                plate_tally.add("ssim", q)
                record.update(psnr=round(p, 3), ssim=round(q, 4))
                pred = detector.landmarks(render, max(boxes, key=lambda b: b.size)) if boxes else None
                if pred is not None:
                    nme = landmark_nme(pred, truth)
                    plate_tally.add("nme", nme)
                    record["nme"] = round(nme, 4)
                texels = _face_texels(plate_raster, mesh, face_hull(truth, (h, w)), mesh.texture.shape[0])
                tex = mesh.texture.astype(np.float64)
                crop = out.crop.astype(np.float64)
                in_crop = np.c_[truth[:, :2] / s, np.ones(len(truth))] @ np.array(cam["crop_matrix"]).T
                crop_face = face_hull(in_crop, crop.shape[:2])
                if previous is not None:
                    both, face_both = texels & previous["texels"], crop_face & previous["crop_face"]
                    if both.sum() > 50 and face_both.sum() > 50:
                        texture_changes.append(float(np.abs(tex[both] - previous["texture"][both]).mean()))
                        plate_changes.append(float(np.abs(crop[face_both] - previous["crop"][face_both]).mean()))
                previous = {"texels": texels, "texture": tex, "crop": crop, "crop_face": crop_face}
            else:
                previous = None
            tiles = [small, render]
            for y in cfg.yaws:
                view, _ = render_textured(verts, mesh.faces, mesh.uv, mesh.texture, turn_camera(c2w, y), K, w, h, GREY)
                vboxes = detector.detect(view)
                yaw_tally[y].found.append(bool(vboxes))
                d = None
                if vboxes:
                    box = max(vboxes, key=lambda b: b.size).as_array()
                    d = identity_distance(ref_embedding, identity.embed(view, box))
                yaw_tally[y].add("identity", d)
                record[f"yaw{y:+.0f}"] = {"found": bool(vboxes), "identity": None if d is None else round(d, 4)}
                tiles.append(view)
            per_frame.append(record)
            if truth is not None:  # the sheet shows the head, not the whole plate
                (x0, y0), (x1, y1) = truth[:, :2].min(0), truth[:, :2].max(0)
                half = 0.9 * max(x1 - x0, y1 - y0)
                cx, cy = 0.5 * (x0 + x1), 0.5 * (y0 + y1)
                window = np.array([cx - half, cy - half, cx + half, cy + half]).round().astype(int)
                window = np.clip(window, 0, [w, h, w, h])
                tiles = [t[window[1]:window[3], window[0]:window[2]] for t in tiles]
            rows.append((out.index, tiles, record))
    summary = {
        "frames": len(per_frame),
        "reconstructed": sum(1 for r in per_frame if "plate_found" in r),
        "plate": {
            "found": _rate(plate_tally.found),
            "nme": _mean(plate_tally.values.get("nme", [])),
            "psnr": _mean(plate_tally.values.get("psnr", [])),
            "ssim": _mean(plate_tally.values.get("ssim", [])),
        },
        "yaw": {},
        "flicker": {
            "texture_change": _mean(texture_changes),
            "plate_change": _mean(plate_changes),
            "ratio": round(float(np.mean(texture_changes) / max(np.mean(plate_changes), 1e-6)), 3)
            if texture_changes else None,
        },
    }
    for y in cfg.yaws:
        ids = yaw_tally[y].values.get("identity", [])
        summary["yaw"][f"{y:+.0f}"] = {
            "found": _rate(yaw_tally[y].found),
            "identity": _mean(ids),
            "same": _rate([d is not None and d <= DLIB_SAME_PERSON for d in ids]),
        }
    report = {
        "video": _shown(video), "reference": _shown(reference), "options": job.to_wire(),
        "weights": job.weights, "fusion_weights": job.fusion_weights, "config": asdict(cfg),
        "summary": summary, "frames": per_frame,
    }
    report["sheet"] = _sheet(rows, cfg)
    return report


def _shown(path) -> str:
    """A path as the report shows it: relative to the working folder when it is inside it."""
    p = Path(path).resolve()
    try:
        return str(p.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _rate(flags) -> float | None:
    return round(float(np.mean(flags)), 4) if len(flags) else None


def _sheet(rows: list, cfg: RealEvalConfig) -> np.ndarray | None:
    """Rows of plate | plate-view render | turned renders, each tile labelled with what was found."""
    if not rows:
        return None
    pick = np.unique(np.linspace(0, len(rows) - 1, min(cfg.sheet_rows, len(rows))).round().astype(int))
    labels = ["plate", "render, plate camera", *[f"render, yaw {y:+.0f}" for y in cfg.yaws]]
    out = []
    for i in pick:
        index, tiles, record = rows[i]
        strip = []
        for k, tile in enumerate(tiles):
            im = Image.fromarray(tile)
            im.thumbnail((TILE, TILE))
            canvas = Image.new("RGB", (TILE, TILE), (40, 40, 40))
            canvas.paste(im, ((TILE - im.size[0]) // 2, (TILE - im.size[1]) // 2))
            draw = ImageDraw.Draw(canvas)
            if k == 0:
                text = f"frame {index}"
            elif k == 1:
                text = ("face" if record["plate_found"] else "NO FACE") + (
                    f" nme {record['nme']:.3f}" if "nme" in record else "")
            else:
                r = record[f"yaw{cfg.yaws[k - 2]:+.0f}"]
                text = ("face" if r["found"] else "NO FACE") + (
                    f" id {r['identity']:.2f}" if r["identity"] is not None else "")
            draw.text((3, 3), text, fill=(255, 255, 0))
            strip.append(np.asarray(canvas))
        out.append(np.concatenate(strip, axis=1))
    header = Image.new("RGB", (out[0].shape[1], 16), (20, 20, 20))
    for k, label in enumerate(labels):
        ImageDraw.Draw(header).text((k * TILE + 3, 2), label, fill=(230, 230, 230))
    return np.concatenate([np.asarray(header), *out], axis=0)


def markdown_report(report: dict) -> str:
    """The summary as a Markdown table."""
    s = report["summary"]
    lines = [
        f"Real footage: `{report['video']}` against `{report['reference']}` "
        f"(texture {report['options']['texture']}, mode {report['options']['mode']}, "
        f"{s['reconstructed']} of {s['frames']} frames reconstructed)",
        "",
        "| view | face found | landmark NME | PSNR in face (dB) | SSIM in face | identity distance | same person |",
        "|---|---|---|---|---|---|---|",
    ]

    def f(x, fmt):
        return "-" if x is None else format(x, fmt)

    p = s["plate"]
    lines.append(f"| plate camera | {f(p['found'], '.0%')} | {f(p['nme'], '.3f')} | {f(p['psnr'], '.2f')} | "
                 f"{f(p['ssim'], '.3f')} | - | - |")
    for y, v in s["yaw"].items():
        lines.append(f"| head camera {y} deg | {f(v['found'], '.0%')} | - | - | - | {f(v['identity'], '.3f')} | "
                     f"{f(v['same'], '.0%')} |")
    fl = s["flicker"]
    lines += ["", f"Flicker: face texels change {f(fl['texture_change'], '.2f')} per frame against the plate's "
              f"{f(fl['plate_change'], '.2f')} (ratio {f(fl['ratio'], '.2f')})."]
    return "\n".join(lines) + "\n"


def write_report(report: dict, path: Path) -> tuple[Path, Path, Path | None]:
    """Write the JSON report at `path`, its Markdown and contact sheet (PNG) beside it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sheet = report.pop("sheet", None)
    path.write_text(json.dumps(report, indent=2) + "\n")
    md = path.with_suffix(".md")
    md.write_text(markdown_report(report))
    png = None
    if sheet is not None:
        png = path.with_suffix(".png")
        Image.fromarray(sheet).save(png)
    return path, md, png
