"""`headfuse doctor`: what is installed, which device runs, which weights ship, what is missing."""

import argparse
import importlib
import platform
import shutil
from pathlib import Path

NAME = "doctor"
HELP = "print versions, device, shipped weights, and what is missing with the command that fixes it"

# (import name, what it is for, the command that installs it)
REQUIREMENTS = [
    ("torch", "networks and rendering", "make setup  (pip install torch==2.13.0)"),
    ("numpy", "arrays (1.26.x so bpy fits beside it)", "make setup"),
    ("mcubes", "marching cubes (PyMCubes)", "make setup  (pip install PyMCubes; never the package 'mcubes')"),
    ("trimesh", "reading meshes back in tests", "make setup"),
    ("xatlas", "UV atlases for single meshes", "make setup"),
    ("cv2", "video decode/encode (opencv-python-headless)", "make setup"),
    ("skimage", "image metrics, sample photo", "make setup"),
    ("zmq", "the inference server (pyzmq)", "make setup"),
    ("mediapipe", "face detection and landmarks", "pip install --no-deps mediapipe==0.10.14"),
    ("bpy", "Blender as a module (tests, headless demo)", "make setup  (pip install bpy==5.0.1)"),
]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", default="auto", help="device to check: auto, cpu or cuda")


def _version(module) -> str:
    if module.__name__ == "bpy":
        return module.app.version_string
    return str(getattr(module, "__version__", "installed"))


def run(args) -> int:
    from backend import __version__

    print(f"headfuse {__version__}  python {platform.python_version()}  {platform.platform()}")
    missing = []
    for name, purpose, fix in REQUIREMENTS:
        try:
            module = importlib.import_module(name)
            print(f"  ok       {name:<10} {_version(module):<14} {purpose}")
        except Exception as exc:  # an import can fail with more than ImportError (e.g. a bad .so)
            print(f"  MISSING  {name:<10} {'':<14} {purpose}: {type(exc).__name__}: {exc}")
            missing.append((name, fix))
    try:
        import torch

        from backend.device import resolve_device

        dev = resolve_device(args.device)
        extra = f" ({torch.cuda.get_device_name(dev)})" if dev.type == "cuda" else ""
        print(f"device: {dev}{extra}; torch threads {torch.get_num_threads()}; CUDA: {torch.cuda.is_available()}")
    except Exception as exc:
        print(f"device: unavailable: {exc}")
        missing.append(("device", "use --device cpu"))
    weights_dir = Path(__file__).resolve().parent.parent / "weights"
    found = sorted(p.relative_to(weights_dir) for p in weights_dir.rglob("*.pt")) if weights_dir.exists() else []
    if found:
        for p in found:
            print(f"weights: {p}")
    else:
        print(f"weights: none shipped in {weights_dir} (train them: headfuse train --stage encoder --config tiny)")
    if shutil.which("ffmpeg") is None:
        print("note: no ffmpeg on PATH; OpenCV's bundled FFmpeg decodes and writes mp4 on its own")
    if missing:
        print("\nmissing, and the command that fixes it:")
        for name, fix in missing:
            print(f"  {name}: {fix}")
        return 1
    print("\nall set")
    return 0
