"""Loading the EBME authors' BiFlowNet weights into :class:`BidirectionalFlow`."""

from __future__ import annotations

from pathlib import Path

import torch

from aprvfi_cli.model.flow import BidirectionalFlow

EBME_PREFIX = "module."


class WeightsError(RuntimeError):
    """A weights file is missing, unreadable or does not fit the network."""


def map_ebme_keys(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Strip the DataParallel prefix of the published checkpoint."""
    return {key.removeprefix(EBME_PREFIX): value for key, value in state.items()}


def load_ebme_flow(flow: BidirectionalFlow, path: str | Path) -> None:
    """Load ``bi-flownet.pkl`` into ``flow`` in place.

    Every tensor of the file must be used and every parameter filled, with matching shapes;
    anything else raises :class:`WeightsError` naming the offending keys.
    """
    path = Path(path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError as error:
        raise WeightsError(f"EBME weights not found: {path}") from error
    except Exception as error:  # pickle, zip and torch errors all mean "not a weights file"
        raise WeightsError(f"cannot read EBME weights {path}: {error}") from error
    load_strict(flow, map_ebme_keys(state), source=str(path))


def load_strict(module: torch.nn.Module, state: dict[str, torch.Tensor], *, source: str) -> None:
    """Load ``state`` into ``module``: every tensor used, every parameter filled, shapes equal.

    Raises :class:`WeightsError` naming the missing, unused and mis-shaped keys.
    """
    own = module.state_dict()
    missing = sorted(set(own) - set(state))
    unused = sorted(set(state) - set(own))
    wrong = [
        f"{key}: file {tuple(state[key].shape)} vs model {tuple(own[key].shape)}"
        for key in sorted(set(own) & set(state))
        if state[key].shape != own[key].shape
    ]
    if missing or unused or wrong:
        raise WeightsError(
            f"{source} does not fit the network: missing {missing}, unused {unused}, shape mismatch {wrong}"
        )
    module.load_state_dict(state, strict=True)
