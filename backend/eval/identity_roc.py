"""`headfuse eval --protocol identity`: the ROC of dlib's identity distance, on real photographs and on
synthetic heads, and the tracker's threshold chosen from it.

Real: the packaged portraits of three people (scikit-image's astronaut and cameraman, matplotlib's Grace
Hopper), each seen in `AUGMENTS` (mirrored, smaller, turned, darker, brighter, blurred, recompressed,
reframed): genuine pairs within a person, impostor pairs across. Synthetic: `synthetic` heads, each
rendered frontal and turned 25 degrees with another expression and light. For each set and both together:
true- and false-accept rates over thresholds, the equal-error rate, and the largest threshold whose
false-accept rate on real impostor pairs is at most `max_false_accept` (`chosen`).
"""

import itertools
import json
import math
from pathlib import Path

import cv2
import numpy as np

from backend.eval.real_inputs import portraits
from backend.face.detect import FaceDetector
from backend.face.identity import DLIB_SAME_PERSON, FaceIdentity, identity_distance

AUGMENTS = ("original", "mirrored", "smaller", "turned", "darker", "brighter", "blurred", "recompressed", "reframed")
THRESHOLDS = np.round(np.arange(0.30, 0.801, 0.01), 2)


def augment(image: np.ndarray, kind: str) -> np.ndarray:
    """One of `AUGMENTS` of an RGB uint8 image."""
    h, w = image.shape[:2]
    if kind == "mirrored":
        return np.ascontiguousarray(image[:, ::-1])
    if kind == "smaller":
        return cv2.resize(image, (w // 2, h // 2), interpolation=cv2.INTER_AREA)
    if kind == "turned":
        m = cv2.getRotationMatrix2D((w / 2, h / 2), 12.0, 1.0)
        return cv2.warpAffine(image, m, (w, h), borderMode=cv2.BORDER_REFLECT)
    if kind in ("darker", "brighter"):
        return np.clip(image.astype(np.float32) * (0.65 if kind == "darker" else 1.35), 0, 255).astype(np.uint8)
    if kind == "blurred":
        return cv2.GaussianBlur(image, (0, 0), 2.0)
    if kind == "recompressed":
        ok, buf = cv2.imencode(".jpg", image[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, 25])
        return np.ascontiguousarray(cv2.imdecode(buf, cv2.IMREAD_COLOR)[:, :, ::-1])
    if kind == "reframed":
        return np.ascontiguousarray(image[h // 10 :, w // 8 : w - w // 16])
    return image


def _real_people() -> dict[str, np.ndarray]:
    from skimage import data

    return {**portraits(), "cameraman": np.repeat(data.camera()[:, :, None], 3, axis=2)}


def _synthetic_people(count: int) -> dict[str, list[np.ndarray]]:
    import torch

    from backend.render.cameras import intrinsics_matrix, orbit_camera
    from backend.synth.clip import clip_states
    from backend.synth.head import SynthHead
    from backend.synth.render import render_gt

    people = {}
    for k in range(count):
        identity, states = clip_states(3_000_000 + k, 2)
        views = []
        for t, yaw in enumerate((0.0, 25.0)):
            head = SynthHead(identity, states[t].expression, states[t].lighting)
            img = render_gt(head, orbit_camera(torch.tensor([math.radians(yaw)])), intrinsics_matrix(batch=1), 192,
                            background=torch.full((3,), 0.4))["rgb"][0]
            views.append((img.permute(1, 2, 0).clamp(0, 1).numpy() * 255 + 0.5).astype(np.uint8))
        people[f"synthetic_{k}"] = views
    return people


def _rates(genuine: list[float], impostor: list[float]) -> dict:
    g, i = np.asarray(genuine), np.asarray(impostor)
    tar = [float((g <= t).mean()) if g.size else None for t in THRESHOLDS]
    far = [float((i <= t).mean()) if i.size else None for t in THRESHOLDS]
    eer = None
    if g.size and i.size:
        k = int(np.argmin([abs((1 - a) - b) for a, b in zip(tar, far, strict=True)]))
        eer = {"threshold": float(THRESHOLDS[k]), "rate": round(0.5 * ((1 - tar[k]) + far[k]), 4)}
    return {"genuine_pairs": int(g.size), "impostor_pairs": int(i.size), "true_accept": tar, "false_accept": far,
            "eer": eer, "genuine_max": float(g.max()) if g.size else None,
            "impostor_min": float(i.min()) if i.size else None}


def evaluate_identity(synthetic: int = 10, max_false_accept: float = 0.001) -> dict:
    """The ROC report (module docstring)."""
    model = FaceIdentity()
    embeddings: dict[str, dict[str, list]] = {"real": {}, "synthetic": {}}
    missed = []
    with FaceDetector() as detector:
        def add(kind: str, name: str, label: str, image: np.ndarray) -> None:
            boxes = detector.detect(image)
            if not boxes:
                missed.append(f"{name}/{label}")
                return
            e = model.embed(image, max(boxes, key=lambda b: b.size).as_array())
            embeddings[kind].setdefault(name, []).append(e)

        for name, image in _real_people().items():
            for label in AUGMENTS:
                add("real", name, label, augment(image, label))
        for name, views in _synthetic_people(synthetic).items():
            for t, view in enumerate(views):
                add("synthetic", name, str(t), view)
    sets = {}
    pooled_g, pooled_i = [], []
    for kind, people in embeddings.items():
        genuine = [identity_distance(a, b) for es in people.values() for a, b in itertools.combinations(es, 2)]
        impostor = [identity_distance(a, b) for (_, ea), (_, eb) in itertools.combinations(people.items(), 2)
                    for a in ea for b in eb]
        sets[kind] = {"people": len(people), **_rates(genuine, impostor)}
        pooled_g += genuine
        pooled_i += impostor
    sets["both"] = {"people": sum(s["people"] for s in sets.values()), **_rates(pooled_g, pooled_i)}
    real = sets["real"]
    ok = [t for t, far in zip(THRESHOLDS, real["false_accept"], strict=True)
          if far is not None and far <= max_false_accept]
    chosen = float(max(ok)) if ok else None
    k = list(THRESHOLDS).index(chosen) if chosen is not None else None
    return {
        "thresholds": [float(t) for t in THRESHOLDS],
        "sets": sets,
        "missed_detections": missed,
        "max_false_accept": max_false_accept,
        "chosen": chosen,
        "at_chosen": None if k is None else {
            name: {"true_accept": s["true_accept"][k], "false_accept": s["false_accept"][k]} for name, s in sets.items()
        },
        "dlib_same_person": DLIB_SAME_PERSON,
    }


def markdown_report(report: dict) -> str:
    """The ROC at a few thresholds and the choice, as Markdown."""
    t = report["thresholds"]
    show = [0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7]
    head = "| set | people | genuine / impostor pairs | EER | " + " | ".join(f"TAR / FAR at {x}" for x in show)
    lines = [head + " |", "|---|---|---|---|" + "---|" * len(show)]
    for name, s in report["sets"].items():
        cells = []
        for x in show:
            k = t.index(x)
            cells.append(f"{s['true_accept'][k]:.0%} / {s['false_accept'][k]:.0%}" if s["true_accept"][k] is not None
                         else "-")
        eer = f"{s['eer']['rate']:.1%} at {s['eer']['threshold']:.2f}" if s["eer"] else "-"
        lines.append(f"| {name} | {s['people']} | {s['genuine_pairs']} / {s['impostor_pairs']} | {eer} | "
                     + " | ".join(cells) + " |")
    lines += ["", f"Chosen threshold (largest with a false-accept rate of at most {report['max_false_accept']:.1%} on "
              f"real impostor pairs): {report['chosen']}; at it: {json.dumps(report['at_chosen'])}.",
              f"Faces not detected (not in the pairs): {', '.join(report['missed_detections']) or 'none'}."]
    return "\n".join(lines) + "\n"


def write_report(report: dict, path: Path) -> tuple[Path, Path]:
    """JSON at `path`, Markdown beside it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n")
    md = path.with_suffix(".md")
    md.write_text(markdown_report(report))
    return path, md
