"""The training loop both stages run: AdamW with linear warm-up and cosine decay to 5 %, gradient clipping,
a JSON line per logged step in `train.log`, a progress bar, checkpoints that resume exactly (model,
optimizer and RNG state; the batch and the sampling of step i depend only on (seed, i)), the commands
that trained the run, and an optional wall-time budget after which it stops resumably.

A stage supplies its network, its config (`steps`, `lr`, `warmup`, `weight_decay`, `checkpoint_every`,
`log_every`, `seed`), how to make step i's batch and how to turn a batch into losses.
"""

import json
import math
import time
from collections.abc import Callable
from pathlib import Path

import torch
from tqdm import tqdm

from backend.checkpoint import command_line, git_commit, save_checkpoint


def learning_rate(step: int, cfg) -> float:
    """The learning rate of `step`: linear warm-up over `cfg.warmup` steps, then cosine from `cfg.lr` to 5 %
    of it at `cfg.steps`."""
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    t = (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup)
    return cfg.lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(1.0, t))))


def run_history(state: dict | None, earlier: list[dict] | None = None, **entry) -> list[dict]:
    """Every invocation that trained a run: the resumed checkpoint's history (or, for a fresh run, the
    `earlier` history of the weights it starts from), then this command, its commit, the step it starts
    from and `entry`'s extra fields."""
    if state is not None:
        history = list(state.get("history", [{"command": state["command"], "commit": state["commit"], "from_step": 0}]))
    else:
        history = list(earlier or [])
    start = 0 if state is None else int(state["step"])
    history.append({"command": command_line(), "commit": git_commit(), "from_step": start, **entry})
    return history


def train_loop(
    out_dir: Path,
    net: torch.nn.Module,
    cfg,
    make_batch: Callable[[int], dict],
    losses_of: Callable[[dict, torch.Generator], dict],
    record: dict,
    state: dict | None,
    final_name: str,
    desc: str,
    shown: str = "render_rgb",
    max_minutes: float = 0.0,
    progress: bool = True,
) -> Path:
    """Train `net` from step 0 or from the checkpoint `state` to `cfg.steps` (or until `max_minutes` of this
    invocation have passed); returns `out_dir/final_name`, the weights without optimizer state.

    `make_batch(step)` is step's batch; `losses_of(batch, generator)` its losses (`total` is minimised; the
    generator depends on (seed, step) only). `record` goes into every checkpoint (configs, stage,
    provenance). `shown`: the loss the progress bar shows beside the total."""
    out_dir.mkdir(parents=True, exist_ok=True)
    ckpt_path = out_dir / "checkpoint.pt"
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    start, wall = 0, 0.0
    if state is not None:
        net.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        torch.set_rng_state(state["rng"])
        start, wall = int(state["step"]), float(state["wall_s"])
    timing = {"data_s": 0.0, "step_s": 0.0}

    def weights(step: int) -> dict:
        ratio = timing["data_s"] / timing["step_s"] if timing["step_s"] else (state or {}).get("data_to_step_time", 0.0)
        return {"model": net.state_dict(), "step": step, "wall_s": wall, "data_to_step_time": ratio, **record}

    def checkpoint(step: int) -> None:
        save_checkpoint(ckpt_path, {**weights(step), "optimizer": opt.state_dict(), "rng": torch.get_rng_state()})

    bar = tqdm(range(start, cfg.steps), initial=start, total=cfg.steps, disable=not progress, desc=desc, unit="step")
    log = (out_dir / "train.log").open("a")
    net.train()
    began, done = time.perf_counter(), max(start, cfg.steps)
    for step in bar:
        if max_minutes and time.perf_counter() - began > 60 * max_minutes:
            done = step
            checkpoint(step)
            break
        t0 = time.perf_counter()
        batch = make_batch(step)
        t1 = time.perf_counter()
        for group in opt.param_groups:
            group["lr"] = learning_rate(step, cfg)
        generator = torch.Generator().manual_seed(cfg.seed * 1_000_003 + step)  # sampling depends on (seed, step) only
        losses = losses_of(batch, generator)
        opt.zero_grad(set_to_none=True)
        losses["total"].backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()
        t2 = time.perf_counter()
        timing["data_s"] += t1 - t0
        timing["step_s"] += t2 - t1
        wall += t2 - t0
        if step % cfg.log_every == 0 or step == cfg.steps - 1:
            row = {k: round(v.item(), 5) for k, v in losses.items()}
            row.update(step=step, lr=learning_rate(step, cfg), wall_s=round(wall, 1))
            log.write(json.dumps(row) + "\n")
            log.flush()
            bar.set_postfix({"loss": f"{row['total']:.4f}", shown: f"{row[shown]:.3f}"})
        if (step + 1) % cfg.checkpoint_every == 0 or step == cfg.steps - 1:
            checkpoint(step + 1)
    log.close()
    if start >= cfg.steps and not ckpt_path.exists():
        checkpoint(cfg.steps)
    final = out_dir / final_name
    save_checkpoint(final, weights(done))
    return final
