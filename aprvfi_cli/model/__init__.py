"""The APR-VFI network: flow, context, router, dynamic synthesis, and its weights files."""

from aprvfi_cli.model.apr_vfi import APRVFI, PairState, SynthesisOutput, WarpedPair
from aprvfi_cli.model.config import ModelConfig
from aprvfi_cli.model.ebme import WeightsError, load_ebme_flow
from aprvfi_cli.model.flow_scale import DEFAULT_FLOW_SCALE
from aprvfi_cli.model.routing_policy import Routing, route_decisions

__all__ = [
    "APRVFI",
    "DEFAULT_FLOW_SCALE",
    "ModelConfig",
    "PairState",
    "Routing",
    "SynthesisOutput",
    "WarpedPair",
    "WeightsError",
    "load_ebme_flow",
    "route_decisions",
]
