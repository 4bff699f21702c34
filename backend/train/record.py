"""The training record shipped beside weights: how they were made, exactly."""

import json
import platform
from pathlib import Path

import torch

from backend.checkpoint import load_checkpoint


def training_record(run_dir: Path) -> dict:
    """What `run_dir/lifter.pt` carries about its making, plus the data it was trained on."""
    state = load_checkpoint(run_dir / "lifter.pt")
    log = [json.loads(line) for line in (run_dir / "train.log").read_text().splitlines() if line.strip()]
    samples = sorted((run_dir / "samples").glob("sample_*.npz"))
    return {
        "stage": state["stage"],
        "command": state["command"],
        "commit": state["commit"],
        "history": state.get("history", [{"command": state["command"], "commit": state["commit"], "from_step": 0}]),
        "steps": int(state["step"]),
        "wall_time_s": round(float(state["wall_s"]), 1),
        "data_to_step_time": round(float(state.get("data_to_step_time", 0.0)), 4),
        "encoder_config": state["encoder_config"],
        "train_config": state["train_config"],
        "samples": len(samples),
        "final_losses": {k: v for k, v in log[-1].items() if k not in ("step", "lr", "wall_s")} if log else {},
        "parameters": sum(v.numel() for v in state["model"].values()),
        "machine": {"platform": platform.platform(), "torch": torch.__version__, "threads": torch.get_num_threads()},
        "saved_at": state["saved_at"],
    }


def write_training_record(run_dir: Path, out: Path | None = None) -> Path:
    """Write `training_record.json` (default: in the run folder)."""
    out = out or run_dir / "training_record.json"
    out.write_text(json.dumps(training_record(run_dir), indent=2) + "\n")
    return out
