"""Training checkpoints: model, optimizer, schedule position, stage, step, configs and RNG states.

A checkpoint is a folder: ``state.pt`` (model weights, optimizer state without its moment
tensors, progress, configs, RNG), one file per Adam moment (``exp_avg.pt``, ``exp_avg_sq.pt``) and
one per extra state dict (``average.pt``: the moving average of the weights). Every file of the
paper model stays under 16 MB, the most a lent GPU machine sends back per file. Moments are kept in
float32 by default (an exact resume); bfloat16 halves them. Folders are written under a temporary
name and renamed, and ``latest`` names the newest one, so a run killed mid-write resumes from the
previous one.
"""

from __future__ import annotations

import random
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.optim import Optimizer

FORMAT = "aprvfi-checkpoint/1"
MOMENTS = ("exp_avg", "exp_avg_sq")


@dataclass(frozen=True)
class Progress:
    """Where training stands: index into the configured stages and steps done in that stage."""

    stage_index: int
    step: int
    global_step: int
    elapsed_s: float


def rng_state() -> dict[str, Any]:
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "python": random.getstate(),
        "numpy": np.random.get_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(
    folder: str | Path,
    *,
    model: nn.Module,
    optimizer: Optimizer,
    progress: Progress,
    config: dict,
    moments_dtype: torch.dtype = torch.float32,
    extra: dict | None = None,
    extra_files: dict[str, dict[str, torch.Tensor]] | None = None,
    point_latest: bool = True,
) -> Path:
    """Write a checkpoint folder atomically and (``point_latest``) point ``folder/../latest`` at it.

    ``extra`` is small state kept in ``state.pt``; each ``extra_files`` item (a state dict) gets a
    file of its own, ``NAME.pt``, and comes back from :func:`load_checkpoint` in ``extra[NAME]``.
    """
    folder = Path(folder)
    temporary = folder.with_name(folder.name + ".tmp")
    shutil.rmtree(temporary, ignore_errors=True)
    temporary.mkdir(parents=True)
    optimizer_state = optimizer.state_dict()
    moments: dict[str, dict[int, torch.Tensor]] = {name: {} for name in MOMENTS}
    light_state = {}
    for index, state in optimizer_state["state"].items():
        light_state[index] = {k: v for k, v in state.items() if k not in MOMENTS}
        for name in MOMENTS:
            if name in state:
                moments[name][index] = state[name].detach().to("cpu", moments_dtype)
    payload = {
        "format": FORMAT,
        "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "optimizer": {"state": light_state, "param_groups": optimizer_state["param_groups"]},
        "progress": progress.__dict__,
        "config": config,
        "rng": rng_state(),
        "extra": extra or {},
        "extra_files": sorted(extra_files or {}),
    }
    torch.save(payload, temporary / "state.pt")
    for name, tensors in moments.items():
        torch.save(tensors, temporary / f"{name}.pt")
    for name, state in (extra_files or {}).items():
        torch.save({k: v.detach().cpu() for k, v in state.items()}, temporary / f"{name}.pt")
    shutil.rmtree(folder, ignore_errors=True)
    temporary.replace(folder)
    if point_latest:
        (folder.parent / "latest").write_text(folder.name + "\n")
    return folder


def resolve_checkpoint(path: str | Path) -> Path:
    """A checkpoint folder, or a run/checkpoints folder whose ``latest`` file names one."""
    path = Path(path)
    for candidate in (path, path / "checkpoints"):
        if (candidate / "state.pt").is_file():
            return candidate
        if (candidate / "latest").is_file():
            return candidate / (candidate / "latest").read_text().strip()
    raise FileNotFoundError(f"no checkpoint at {path}")


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint folder; the optimizer state comes back whole (moments in float32)."""
    folder = resolve_checkpoint(path)
    payload = torch.load(folder / "state.pt", map_location="cpu", weights_only=False)
    if payload.get("format") != FORMAT:
        raise ValueError(f"{folder} is not an aprvfi training checkpoint")
    state = payload["optimizer"]["state"]
    for name in MOMENTS:
        for index, tensor in torch.load(folder / f"{name}.pt", map_location="cpu").items():
            state[index][name] = tensor.float()
    for name in payload.get("extra_files", []):
        payload["extra"][name] = torch.load(folder / f"{name}.pt", map_location="cpu")
    payload["folder"] = str(folder)
    payload["progress"] = Progress(**payload["progress"])
    return payload
