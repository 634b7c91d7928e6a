"""Saving and loading APR-VFI weights files: state dict plus config and metadata."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from aprvfi_cli.model.apr_vfi import APRVFI
from aprvfi_cli.model.config import ModelConfig
from aprvfi_cli.model.ebme import WeightsError, load_ebme_flow, load_strict

FORMAT = "aprvfi-weights/1"
DEFAULT_WEIGHTS = "aprvfi-default.pt"
EBME_FLOW_WEIGHTS = "ebme-bi-flownet.pkl"


def weights_dir() -> Path:
    """The folder holding shipped weights: ``$APRVFI_WEIGHTS_DIR`` or the repository's weights/."""
    override = os.environ.get("APRVFI_WEIGHTS_DIR")
    return Path(override) if override else Path(__file__).resolve().parents[2] / "weights"


def default_weights() -> Path | None:
    """The trained default APR-VFI weights, or None while none ship."""
    path = weights_dir() / DEFAULT_WEIGHTS
    return path if path.is_file() else None


def ebme_flow_weights() -> Path:
    """The EBME BiFlowNet weights shipped beside the model (Apache-2.0)."""
    return weights_dir() / EBME_FLOW_WEIGHTS


def save_weights(path: str | Path, model: APRVFI, metadata: dict[str, Any] | None = None) -> None:
    """Write ``model``'s weights, config and ``metadata`` (data, steps, scores...) to ``path``."""
    payload = {
        "format": FORMAT,
        "config": model.config.to_dict(),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "metadata": metadata or {},
    }
    path = Path(path)
    temporary = path.with_name(path.name + ".tmp")
    torch.save(payload, temporary)
    temporary.replace(path)


def read_weights(path: str | Path) -> dict[str, Any]:
    """Read and check a weights file; raises :class:`WeightsError` with a one-line reason."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"weights file not found: {path}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # any unpickling/zip failure means the file is not ours
        raise WeightsError(f"cannot read weights file {path}: {type(error).__name__}") from error
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise WeightsError(f"{path} is not an aprvfi weights file")
    return payload


def load_weights(path: str | Path) -> APRVFI:
    """Build the model a weights file describes and load it (strict, shapes checked)."""
    payload = read_weights(path)
    try:
        model = APRVFI(ModelConfig.from_dict(payload["config"]))
    except (TypeError, ValueError) as error:
        raise WeightsError(f"{path} has an invalid model config: {error}") from error
    load_strict(model, payload["state_dict"], source=str(path))
    return model


def flow_only_model(config: ModelConfig | None = None) -> APRVFI:
    """A model whose flow network carries the shipped EBME weights (for flow-only use)."""
    model = APRVFI(config or ModelConfig.paper())
    load_ebme_flow(model.flow, ebme_flow_weights())
    return model
