"""The training record shipped beside weights: how they were made, exactly."""

import json
import platform
from pathlib import Path

import torch

from backend.checkpoint import load_checkpoint


def training_record(run_dir: Path, weights: str = "lifter.pt") -> dict:
    """What `run_dir/weights` carries about its making, plus the data it was trained on."""
    state = load_checkpoint(run_dir / weights)
    log = [json.loads(line) for line in (run_dir / "train.log").read_text().splitlines() if line.strip()]
    data_dir = state.get("data_dir")
    if data_dir is None and (run_dir / "checkpoint.pt").is_file():  # weights saved before they carried it
        data_dir = load_checkpoint(run_dir / "checkpoint.pt").get("data_dir")
    data = Path(data_dir) if data_dir else run_dir / "samples"
    samples = len(list(data.glob("[!.]*.npz")))  # not the hidden temporary files
    tc = state["train_config"]
    if tc.get("stream_rate", 0) > 0:  # a stream: step s drew from the first start + rate * s samples
        samples = min(tc["samples"], tc["stream_start"] + int(tc["stream_rate"] * int(state["step"])))
    config_key = "fusion_config" if state["stage"] == "fusion" else "encoder_config"
    extra = {"lifter_sha256": state["lifter_sha256"], "lifter": state["lifter"]} if state["stage"] == "fusion" else {}
    return {
        "stage": state["stage"],
        "command": state["command"],
        "commit": state["commit"],
        "history": state.get("history", [{"command": state["command"], "commit": state["commit"], "from_step": 0}]),
        "steps": int(state["step"]),
        "wall_time_s": round(float(state["wall_s"]), 1),
        "data_to_step_time": round(float(state.get("data_to_step_time", 0.0)), 4),
        config_key: state[config_key],
        "train_config": state["train_config"],
        "samples": samples,
        **extra,
        "final_losses": {k: v for k, v in log[-1].items() if k not in ("step", "lr", "wall_s")} if log else {},
        "parameters": sum(v.numel() for v in state["model"].values()),
        "machine": {"platform": platform.platform(), "torch": torch.__version__, "threads": torch.get_num_threads()},
        "saved_at": state["saved_at"],
    }


def write_training_record(run_dir: Path, weights: str = "lifter.pt", out: Path | None = None) -> Path:
    """Write `training_record.json` (default: in the run folder) for `run_dir/weights`."""
    out = out or run_dir / "training_record.json"
    out.write_text(json.dumps(training_record(run_dir, weights), indent=2) + "\n")
    return out
