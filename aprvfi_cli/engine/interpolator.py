"""The :class:`Interpolator`: an APR-VFI model on a placement, with numpy images in and out.

Two methods: ``model`` (the full APR-VFI network with trained weights) and ``flow-only`` (the
EBME flow network's bidirectional flow, both frames splatted to t and blended; used while no
trained APR-VFI weights ship).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from aprvfi_cli.errors import UsageError
from aprvfi_cli.model import PairState, Routing
from aprvfi_cli.model.flow_scale import DEFAULT_FLOW_SCALE, check_flow_scale, describe_flow_scale
from aprvfi_cli.model.weights import Method, Origin, resolve_weights
from aprvfi_cli.placement import Placement, resolve_placement

__all__ = ["Interpolator", "Origin", "load_model", "parse_flow_scale", "parse_routing"]


class Interpolator:
    """Interpolate frames with an APR-VFI model.

    Args:
        model: an :class:`aprvfi_cli.model.APRVFI` (weights loaded); moved to the placement.
        method: ``model`` (full synthesis) or ``flow-only``.
        placement: device, precision and memory format (default: CPU, fp32, channels_last).
        routing: the routing policy for the dynamic blocks (``model`` method).
        max_patches: synthesis runs on at most this many patches at a time (bounds memory);
            None: the placement's :attr:`~aprvfi_cli.placement.Placement.patch_batch`.
        origin: where the weights came from.
        flow_scale: the resolution the flow runs at, ``auto`` or 1, 0.5, 0.25
            (:mod:`~aprvfi_cli.model.flow_scale`).
    """

    def __init__(
        self,
        model: torch.nn.Module,
        *,
        method: Method = "model",
        placement: Placement | None = None,
        routing: object | None = None,
        max_patches: int | None = None,
        origin: Origin | None = None,
        flow_scale: float | str = DEFAULT_FLOW_SCALE,
    ) -> None:
        self.placement = placement or Placement.cpu()
        self.flow_scale = check_flow_scale(flow_scale)
        self.flow_scales_run: Counter[float] = Counter()  # pairs estimated at each scale, for the closing note
        self.method: Method = method
        self.routing = routing if routing is not None else Routing()
        self.max_patches = max_patches or self.placement.patch_batch
        self.origin = origin or Origin(method=method, path=None)
        self.model = self.placement.to(model.eval())

    @property
    def device(self) -> torch.device:
        return self.placement.device

    def describe(self) -> str:
        """What interpolates and where: the weights' origin, device, precision and threads, and the
        scale the flow ran at (per pair count when ``auto`` chose more than one)."""
        return f"{self.origin.describe()} on {self.placement.describe()}, {self.describe_flow_scale()}"

    def describe_flow_scale(self) -> str:
        """``flow at 1/2 scale (auto)``; before any pair: the setting, ``flow scale auto``."""
        how = " (auto)" if self.flow_scale == "auto" else ""
        if not self.flow_scales_run:
            return f"flow scale {self.flow_scale:g}" if how == "" else "flow scale auto"
        if len(self.flow_scales_run) == 1:
            return f"flow at {describe_flow_scale(next(iter(self.flow_scales_run)))}{how}"
        counts = sorted(self.flow_scales_run.items(), reverse=True)
        return "flow at " + ", ".join(f"{describe_flow_scale(s)} for {n} pairs" for s, n in counts) + how

    def to_tensor(self, images: Sequence[np.ndarray]) -> torch.Tensor:
        """(B, 3, H, W) float32 in [0, 1] on the device, in the placement's memory format, from
        (H, W, 3) uint8/uint16 arrays."""
        scale = 65535.0 if images[0].dtype == np.uint16 else 255.0
        stacked = torch.from_numpy(np.stack(images)).to(self.device)  # NHWC: permuted, it is channels_last
        # No copy on the CPU (channels_last); on CUDA the model would otherwise run in the frames'
        # layout, not the placement's, and unlike the benchmark that times it.
        frames = stacked.permute(0, 3, 1, 2).float().div_(scale)
        return frames.contiguous(memory_format=self.placement.memory_format)

    @staticmethod
    def to_images(frames: torch.Tensor, dtype: np.dtype) -> list[np.ndarray]:
        """(B, 3, H, W) in [0, 1] -> list of (H, W, 3) arrays of ``dtype`` (rounded)."""
        scale = 65535.0 if dtype == np.uint16 else 255.0
        scaled = frames.float().clamp(0, 1).mul(scale).round().permute(0, 2, 3, 1).cpu().numpy()
        return [np.ascontiguousarray(x.astype(dtype)) for x in scaled]

    def interpolate_tensors(
        self, img0: torch.Tensor, img1: torch.Tensor, times: Sequence[Sequence[float]]
    ) -> list[torch.Tensor]:
        """Frames at several t for each pair: flow and context once per pair.

        Args:
            img0, img1: (B, 3, H, W) in [0, 1] on the device.
            times: B sequences of t in (0, 1), one per pair (may be empty).

        Returns:
            B tensors (len(times[b]), 3, H, W) in [0, 1].
        """
        return self.interpolate_with_routes(img0, img1, times)[0]

    @torch.inference_mode()
    def interpolate_with_routes(
        self, img0: torch.Tensor, img1: torch.Tensor, times: Sequence[Sequence[float]]
    ) -> tuple[list[torch.Tensor], list[torch.Tensor | None]]:
        """:meth:`interpolate_tensors`, plus per frame the patches each dynamic block ran: B bool
        tensors (len(times[b]), D, n_h, n_w), or None for ``flow-only``."""
        with self.placement.autocast():
            pair = self._estimate(img0, img1)
            index = [b for b, ts in enumerate(times) for _ in ts]
            flat_t = [float(t) for ts in times for t in ts]
            results: list[torch.Tensor] = []
            passed: list[torch.Tensor] = []
            rows = max(1, img0.shape[0])  # synthesise at most B frames at once
            for start in range(0, len(index), rows):
                sel = torch.tensor(index[start : start + rows], device=self.device)
                t = torch.tensor(flat_t[start : start + rows], device=self.device)
                frames, route_map = self._synthesize(pair, sel, t, last=start + rows >= len(index))
                results.append(frames.float())
                if route_map is not None:
                    passed.append(route_map)
            flat = torch.cat(results) if results else img0.new_zeros(0, *img0.shape[1:])
            flat_passed = torch.cat(passed) if passed else None
        frames_out: list[torch.Tensor] = []
        passed_out: list[torch.Tensor | None] = []
        start = 0
        for ts in times:
            frames_out.append(flat[start : start + len(ts)])
            passed_out.append(None if flat_passed is None else flat_passed[start : start + len(ts)])
            start += len(ts)
        return frames_out, passed_out

    def _synthesize(
        self, pair: PairState, index: torch.Tensor, t: torch.Tensor, *, last: bool
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Frames (N, 3, H, W) at ``t`` (N,) for the pairs at ``index`` (N,), and their route map
        (None for ``flow-only``). A function of its own so the selected pair and the warped
        inputs are freed before the next t is warped."""
        sub = pair.select(index)
        if self.method == "flow-only":
            return self.model.flow_only(sub, t), None
        out = self.model.synthesize(
            sub,
            t,
            routing=self.routing,
            max_patches=self.max_patches,
            channels_last=self.placement.channels_last,
            # The last t, or a copy no one else holds: free each context level once warped.
            release_context=last or sub is not pair,
        )
        return out.frame, out.route_map

    def _estimate(self, img0: torch.Tensor, img1: torch.Tensor) -> PairState:
        """Flow (and context, which only the full model uses) for a batch of pairs."""
        # flow-only: no context features, so warping splats 3 channels instead of 3 + context
        pair = self.model.estimate(img0, img1, context=self.method == "model", flow_scale=self.flow_scale)
        self.flow_scales_run.update(pair.flow_scales)
        return pair

    def interpolate_pairs(
        self,
        first: Sequence[np.ndarray],
        second: Sequence[np.ndarray],
        times: Sequence[Sequence[float]],
    ) -> list[list[np.ndarray]]:
        """numpy version of :meth:`interpolate_tensors` (same dtype out as in)."""
        dtype = first[0].dtype
        frames = self.interpolate_tensors(self.to_tensor(first), self.to_tensor(second), times)
        return [self.to_images(f, dtype) for f in frames]

    def interpolate(
        self, img0: np.ndarray, img1: np.ndarray, t: float | Sequence[float] = 0.5
    ) -> np.ndarray | list[np.ndarray]:
        """The frame(s) between two (H, W, 3) uint8 RGB images at ``t`` (a float or a sequence).

        t = 0 and t = 1 return copies of the inputs.
        """
        for name, img in (("img0", img0), ("img1", img1)):
            if not isinstance(img, np.ndarray) or img.ndim != 3 or img.shape[2] != 3:
                raise ValueError(f"{name} must be an (H, W, 3) RGB array")
            if img.dtype not in (np.uint8, np.uint16):
                raise ValueError(f"{name} must be uint8 (or uint16), got {img.dtype}")
            if img.shape[0] < 1 or img.shape[1] < 1:
                raise ValueError(f"{name} is empty ({img.shape[1]}x{img.shape[0]} pixels)")
        if img0.shape != img1.shape or img0.dtype != img1.dtype:
            raise ValueError(f"images differ: {img0.shape} {img0.dtype} vs {img1.shape} {img1.dtype}")
        single = _is_number(t)
        many = isinstance(t, (Sequence, np.ndarray)) and not isinstance(t, str) and all(map(_is_number, t))
        if not single and not many:
            raise TypeError(f"t must be a number or a sequence of numbers, got {t!r}")
        ts = [float(t)] if single else [float(x) for x in t]
        if any(not 0.0 <= x <= 1.0 for x in ts):
            raise ValueError("t must lie in [0, 1]")
        inner = [x for x in ts if 0.0 < x < 1.0]
        made = iter(self.interpolate_pairs([img0], [img1], [inner])[0]) if inner else iter(())
        out = [img0.copy() if x == 0 else img1.copy() if x == 1 else next(made) for x in ts]
        return out[0] if single else out

    def route_map(self, img0: np.ndarray, img1: np.ndarray, t: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
        """The frame at ``t`` and the patches each dynamic block ran: (H, W, 3) and (D, n_h, n_w) bool.

        Raises:
            ValueError: a flow-only interpolator, which runs no patches.
        """
        if self.method == "flow-only":
            raise ValueError("flow-only interpolation runs no patches: a route map needs trained APR-VFI weights")
        frames, maps = self.interpolate_with_routes(self.to_tensor([img0]), self.to_tensor([img1]), [[float(t)]])
        return self.to_images(frames[0], img0.dtype)[0], maps[0][0].cpu().numpy()


FLOW_ROUTE = "flow"  # the route that runs no synthesis: flow-only


def parse_routing(route: str | None, *, dynamic_blocks: int | None = None) -> Routing:
    """``apr``, ``static`` or keep ratios ``0.1,0.4,0.6,0.9`` (None: the default policy, ``apr``); with
    ``dynamic_blocks``, the keep ratios must number that many. Raises :class:`UsageError` (subject ``route``)."""
    if route is None:
        return Routing()
    try:
        routing = Routing.parse(route)
    except ValueError as error:
        raise UsageError(str(error), subject="route") from error
    if routing.mode == "keep" and dynamic_blocks is not None and len(routing.keep_ratios or ()) != dynamic_blocks:
        raise UsageError(f"this model needs {dynamic_blocks} keep ratios, got {route!r}", subject="route")
    return routing


def parse_flow_scale(value: float | str) -> float | str:
    """``auto``, 1, 0.5 or 0.25 (text or number); :class:`UsageError` (subject ``flow_scale``) otherwise."""
    try:
        return check_flow_scale(value)
    except ValueError as error:
        raise UsageError(str(error), subject="flow_scale") from error


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)


def load_model(
    weights: str | Path | None = None,
    device: str = "auto",
    precision: str = "auto",
    *,
    route: str | None = None,
    max_patches: int | None = None,
    threads: int | None = None,
    flow_scale: float | str = DEFAULT_FLOW_SCALE,
) -> Interpolator:
    """Build an :class:`Interpolator`: :func:`resolve_placement` and :func:`resolve_weights` in one call.

    ``weights``: an aprvfi weights file, or an EBME ``bi-flownet.pkl`` (flow-only). None: the
    shipped default APR-VFI weights if any, else flow-only with the shipped EBME flow weights.
    ``device``: auto, cpu or cuda; ``precision``: auto, fp32, bf16 or fp16.
    ``route``: apr, static or keep ratios, one per dynamic block of the network (None: apr); ``flow``:
    flow-only interpolation whatever the weights (the fast end of the speed/quality dial).
    ``threads``: CPU threads for torch (>= 1; None: ``$APRVFI_THREADS``, else torch's default).
    ``flow_scale``: ``auto``, 1, 0.5 or 0.25, the resolution the flow network runs at.
    Raises :class:`ModelError` / :class:`UsageError` with a one-line message.
    """
    placement = resolve_placement(device, precision, threads)
    flow_only = route is not None and route.strip().lower() == FLOW_ROUTE
    if not flow_only:
        parse_routing(route)  # a bad route is a usage error before the weights load
    scale = parse_flow_scale(flow_scale)
    model, origin = resolve_weights(weights)
    if flow_only:  # the fast end of the dial: the network's flow, splatted and blended, no synthesis
        routing, origin = Routing(), replace(origin, method="flow-only", chosen=origin.method == "model")
    else:
        routing = parse_routing(route, dynamic_blocks=model.config.num_dynamic_blocks)
    return Interpolator(
        model,
        method=origin.method,
        placement=placement,
        routing=routing,
        max_patches=max_patches,
        origin=origin,
        flow_scale=scale,
    )
