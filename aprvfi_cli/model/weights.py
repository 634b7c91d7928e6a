"""Weights files: saving and reading aprvfi files, finding the shipped ones, and
:func:`resolve_weights`, the one place that turns a weights choice into a model.

Shipped weights live in the repository's top-level ``weights/`` folder, which is installed as
the package ``aprvfi_cli.weights`` (editable and wheel installs alike), so they are found
through the package, not relative to a source tree.
"""

from __future__ import annotations

import importlib.resources
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch

from aprvfi_cli.errors import ModelError, UsageError
from aprvfi_cli.model.apr_vfi import APRVFI
from aprvfi_cli.model.config import ModelConfig
from aprvfi_cli.model.ebme import WeightsError, load_ebme_flow, load_strict

FORMAT = "aprvfi-weights/1"
DEFAULT_WEIGHTS = "aprvfi-default.pt"
EBME_FLOW_WEIGHTS = "ebme-bi-flownet.pkl"
_EBME_KEY_PREFIXES = ("module.feat_pyramid.", "module.flow_estimator.")

Method = Literal["model", "flow-only"]


@dataclass(frozen=True)
class Origin:
    """Where a model's weights came from and how it interpolates.

    ``model``: trained APR-VFI weights (full synthesis). ``flow-only``: the EBME flow weights
    only (both frames splatted to t and blended; the synthesis is untrained).
    """

    method: Method
    path: Path | None
    chosen: bool = False  # flow-only asked for (``--route flow``) although the weights hold a network

    def describe(self) -> str:
        if self.method == "model":
            return f"APR-VFI model ({self.path})"
        if self.chosen:
            return f"flow-only interpolation (route flow; the flow network of {self.path})"
        return f"flow-only interpolation (EBME flow weights {self.path}; no trained APR-VFI weights installed)"


def weights_dir() -> Path:
    """The folder of shipped weights: ``$APRVFI_WEIGHTS_DIR``, else the installed ``aprvfi_cli.weights``."""
    override = os.environ.get("APRVFI_WEIGHTS_DIR")
    if override:
        return Path(override)
    try:
        return Path(str(importlib.resources.files("aprvfi_cli.weights")))
    except ModuleNotFoundError:  # a broken install: report the missing file, not an import error
        return Path(__file__).resolve().parent / "weights-not-installed"


def default_weights() -> Path | None:
    """The shipped trained APR-VFI weights, or None while none ship."""
    path = weights_dir() / DEFAULT_WEIGHTS
    return path if path.is_file() else None


def ebme_flow_weights() -> Path:
    """The shipped EBME BiFlowNet weights (Apache-2.0)."""
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


def _load_file(path: Path) -> object:
    if not path.is_file():
        raise WeightsError(f"weights file not found: {path}")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # any unpickling/zip failure means the file is not weights
        raise WeightsError(f"cannot read weights file {path}: {type(error).__name__}") from error


def _check_state(path: Path, state: object) -> dict[str, torch.Tensor]:
    """``state`` as a state dict of finite tensors, else a :class:`WeightsError`."""
    if not isinstance(state, dict) or not state:
        raise WeightsError(f"{path} is not a valid weights file: no state dict")
    for key, value in state.items():
        if not isinstance(key, str) or not isinstance(value, torch.Tensor):
            raise WeightsError(f"{path} is not a valid weights file: entry {key!r} is not a tensor")
        if value.is_floating_point() and not bool(torch.isfinite(value).all()):
            raise WeightsError(f"{path} is not a valid weights file: {key} holds NaN or infinite values")
    return state


def _is_ebme_state(payload: object) -> bool:
    return (
        isinstance(payload, dict)
        and bool(payload)
        and all(isinstance(k, str) and k.startswith(_EBME_KEY_PREFIXES) for k in payload)
    )


def read_weights(path: str | Path) -> dict[str, Any]:
    """Read and check an aprvfi weights file; raises :class:`WeightsError` with a one-line reason."""
    path = Path(path)
    return _check_payload(path, _load_file(path))


def _check_payload(path: Path, payload: object) -> dict[str, Any]:
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise WeightsError(f"{path} is not an aprvfi weights file")
    if not isinstance(payload.get("config"), dict):
        raise WeightsError(f"{path} is not a valid weights file: no model config")
    _check_state(path, payload.get("state_dict"))
    return payload


def _model_from_payload(path: Path, payload: dict[str, Any]) -> APRVFI:
    try:
        model = APRVFI(ModelConfig.from_dict(payload["config"]))
    except (TypeError, ValueError, KeyError) as error:
        raise WeightsError(f"{path} is not a valid weights file: invalid model config ({error})") from error
    try:
        load_strict(model, payload["state_dict"], source="its state dict")
    except WeightsError as error:
        raise WeightsError(f"{path} is not a valid weights file: {error}") from error
    return model


def load_weights(path: str | Path) -> APRVFI:
    """Build the model an aprvfi weights file describes and load it (strict, shapes checked)."""
    path = Path(path)
    return _model_from_payload(path, read_weights(path))


def _flow_only(path: Path, state: object, config: ModelConfig | None) -> APRVFI:
    model = APRVFI(config or ModelConfig.paper())
    state = _check_state(path, state)
    try:
        load_strict(model.flow, {k.removeprefix("module."): v for k, v in state.items()}, source="its flow")
    except WeightsError as error:
        raise WeightsError(f"{path} is not a valid weights file: {error}") from error
    return model


def flow_only_model(config: ModelConfig | None = None) -> APRVFI:
    """A model whose flow network carries the shipped EBME weights (for flow-only use)."""
    model = APRVFI(config or ModelConfig.paper())
    load_ebme_flow(model.flow, ebme_flow_weights())
    return model


def resolve_weights(spec: str | Path | None = None, *, config: ModelConfig | None = None) -> tuple[APRVFI, Origin]:
    """The model (float32, on the CPU) for a weights choice, and where it came from.

    Args:
        spec: None for the shipped default (``aprvfi-default.pt`` when it ships, else the EBME
            flow file: a flow-only model); or the path of an aprvfi weights file or of an EBME
            ``bi-flownet.pkl`` (flow-only).
        config: the network built around EBME flow weights (default: the paper preset); an
            aprvfi file carries its own config.

    Raises:
        UsageError: ``spec`` names no file.
        ModelError: the file is unreadable, or not valid weights ("... is not a valid weights
            file: <why>": no state dict, NaN values, shapes that do not fit), or nothing ships.
    """
    try:
        if spec is not None:
            path = Path(spec)
            if not path.is_file():
                raise UsageError(f"weights file not found: {path}", subject="weights")
            payload = _load_file(path)
            if _is_ebme_state(payload):
                return _flow_only(path, payload, config), Origin("flow-only", path)
            if not isinstance(payload, dict) or payload.get("format") != FORMAT:
                raise WeightsError(f"{path} is not a valid weights file: neither aprvfi weights nor EBME flow weights")
            return _model_from_payload(path, _check_payload(path, payload)), Origin("model", path)
        default = default_weights()
        if default is not None:
            return load_weights(default), Origin("model", default)
        path = ebme_flow_weights()
        if not path.is_file():
            raise ModelError(
                f"no weights found: neither APR-VFI weights nor {path} (set APRVFI_WEIGHTS_DIR or pass a weights file)"
            )
        return _flow_only(path, _load_file(path), config), Origin("flow-only", path)
    except WeightsError as error:
        raise ModelError(str(error), subject=None if spec is None else "weights") from error
