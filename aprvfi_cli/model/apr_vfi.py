"""APR-VFI: bidirectional flow, forward warping, context net, APR router and dynamic synthesis.

Flow and context are computed once per frame pair (:meth:`APRVFI.estimate`); any number of
t values are then synthesised from them (:meth:`APRVFI.synthesize`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from aprvfi_cli.model.config import ModelConfig
from aprvfi_cli.model.context import ContextNet
from aprvfi_cli.model.flow import BidirectionalFlow
from aprvfi_cli.model.flow_only import fill_holes, flow_only_frame, time_weights
from aprvfi_cli.model.flow_scale import FlowScale, estimate_flow
from aprvfi_cli.model.patch_context import ContextPatches, SplatContext, WarpedContext
from aprvfi_cli.model.router_net import Router
from aprvfi_cli.model.routing_policy import Routing, route_decisions
from aprvfi_cli.model.synthesis import SynthesisNet
from aprvfi_cli.ops.layout import cat_channels
from aprvfi_cli.ops.padding import pad_to_multiple
from aprvfi_cli.ops.patches import all_patches, gather_patches, scatter_patches
from aprvfi_cli.ops.splat import forward_splat
from aprvfi_cli.ops.splat_plan import plan_splat


@dataclass(frozen=True)
class PairState:
    """What :meth:`APRVFI.estimate` computes once per frame pair (all padded to (Hp, Wp)).

    Attributes:
        image0, image1: (B, 3, Hp, Wp) input frames in [0, 1].
        flow: (B, 4, Hp, Wp) F01 (x, y) then F10 (x, y) in pixels.
        context0, context1: the context of each frame, one (B, c, Hp, Wp) tensor per level
            (empty without context). Kept apart so each level can be freed on its own
            (``release_context`` of :meth:`APRVFI.synthesize`).
        size: the unpadded (H, W).
        flow_scales: per pair, the scale the flow network ran at (1, 0.5 or 0.25); empty when
            the flow was given.
    """

    image0: Tensor
    image1: Tensor
    flow: Tensor
    context0: list[Tensor]
    context1: list[Tensor]
    size: tuple[int, int]
    flow_scales: tuple[float, ...] = ()

    def select(self, index: Tensor) -> PairState:
        """The pairs at ``index`` (B',), e.g. one pair repeated to batch several t values.

        Every pair once and in order is this state itself: no copy of the context (2 GB a frame at 4K).
        """
        batch = self.image0.shape[0]
        if index.numel() == batch and torch.equal(index.cpu(), torch.arange(batch)):
            return self
        return PairState(
            image0=self.image0[index],
            image1=self.image1[index],
            flow=self.flow[index],
            context0=[level[index] for level in self.context0],
            context1=[level[index] for level in self.context1],
            size=self.size,
            flow_scales=tuple(self.flow_scales[i] for i in index.tolist()) if self.flow_scales else (),
        )


@dataclass(frozen=True)
class WarpedPair:
    """Both frames and their context forward-warped to time t (padded size).

    ``image0``/``image1`` have their holes filled from the other frame (or, where both are
    holes, from the plain time-weighted blend of the inputs).
    """

    image0: Tensor
    image1: Tensor
    hole0: Tensor
    hole1: Tensor
    flow0t: Tensor
    flow1t: Tensor
    context: ContextPatches  # the warped context levels, read patch by patch (empty without context)
    t: Tensor  # (B, 1, 1, 1)

    def blend(self) -> Tensor:
        """The flow-only frame: both warped frames weighted by time, (B, 3, Hp, Wp)."""
        return (1 - self.t) * self.image0 + self.t * self.image1


@dataclass(frozen=True)
class SynthesisOutput:
    """Result of :meth:`APRVFI.synthesize`.

    Attributes:
        frame: (B, 3, H, W) the interpolated frame in [0, 1], unpadded.
        route_map: (B, D, n_h, n_w) bool, the patches each dynamic block processed.
        route_logits: (B, D, 2, n_h, n_w) router logits (skip, pass).
        warped: the warped inputs at the padded size (for losses and the reference route map).
    """

    frame: Tensor
    route_map: Tensor
    route_logits: Tensor
    warped: WarpedPair


class APRVFI(nn.Module):
    """The whole network. ``forward(img0, img1, t)`` = ``synthesize(estimate(img0, img1), t)``."""

    def __init__(self, config: ModelConfig | None = None) -> None:
        super().__init__()
        self.config = config or ModelConfig.paper()
        cfg = self.config
        self.flow = BidirectionalFlow(radius=cfg.correlation_radius)
        self.context = ContextNet(channels=cfg.context_channels, levels=cfg.num_blocks)
        self.router = Router(
            channels=cfg.router_channels,
            num_dynamic_blocks=cfg.num_dynamic_blocks,
            patch_size=cfg.patch_size,
        )
        self.synthesis = SynthesisNet(cfg)

    def estimate(
        self,
        img0: Tensor,
        img1: Tensor,
        *,
        context: bool = True,
        flow: Tensor | None = None,
        flow_scale: FlowScale = 1.0,
    ) -> PairState:
        """Flow and context for a batch of pairs.

        Args:
            img0, img1: (B, 3, H, W) frames in [0, 1], any H and W.
            context: also run the context net; without it the state serves :meth:`flow_only`
                only (its context lists are empty).
            flow: (B, 4, H, W) F01 and F10 in pixels, computed earlier (the training store keeps the
                frozen flow network's whole-frame output); None runs the flow network.
            flow_scale: the flow network runs on the frames area-downscaled by this (1, 0.5 or
                0.25, :mod:`~aprvfi_cli.model.flow_scale`); its vectors are brought back to full
                resolution, where everything else runs.
        """
        if img0.shape != img1.shape or img0.dim() != 4 or img0.shape[1] != 3:
            raise ValueError(f"expected two (B, 3, H, W) frames, got {tuple(img0.shape)} and {tuple(img1.shape)}")
        levels = self.config.levels_for_width(img0.shape[-1])
        multiple = self.config.pad_multiple(levels)
        image0, size = pad_to_multiple(img0, multiple)
        image1, _ = pad_to_multiple(img1, multiple)
        scales: tuple[float, ...] = ()
        if flow is None:
            flow, scales = estimate_flow(
                self.flow, image0, image1, size, flow_scale=flow_scale, levels_for_width=self.config.levels_for_width
            )
        elif flow.shape[0] != img0.shape[0] or flow.shape[1] != 4 or flow.shape[-2:] != img0.shape[-2:]:
            raise ValueError(f"expected a (B, 4, H, W) flow for frames {tuple(img0.shape)}, got {tuple(flow.shape)}")
        else:
            flow, _ = pad_to_multiple(flow.float(), multiple)
        # Levels stay apart: a concatenated copy would be a third 2 GB map per frame at 4K.
        context0, context1 = (self.context(image0), self.context(image1)) if context else ([], [])
        return PairState(
            image0=image0, image1=image1, flow=flow, context0=context0, context1=context1, size=size, flow_scales=scales
        )

    def warp(
        self, pair: PairState, t: float | Tensor, *, release_context: bool = False, channels_last: bool = False
    ) -> WarpedPair:
        """Forward-splat both frames to time ``t`` (scalar or (B,)); their context is splatted
        patch by patch as the synthesis reads it (``WarpedPair.context``).

        With ``release_context`` the pair's context levels move into the result (see
        :meth:`synthesize`). ``channels_last``: the context patches' memory layout.
        """
        t = time_weights(t, pair.image0)
        flow0t = t * pair.flow[:, :2]
        flow1t = (1 - t) * pair.flow[:, 2:]
        # Padding is not content: it must not splat into the visible frame.
        inside = torch.zeros_like(pair.image0[:, :1])
        inside[..., : pair.size[0], : pair.size[1]] = 1
        levels0, levels1 = _take(pair.context0, release_context), _take(pair.context1, release_context)
        # Image and 5 context levels along one flow: one plan, read by each (BENCHMARKS §6), and the
        # context splatted only where a block reads it. Flow-only (no context) and a learned flow
        # keep the direct splat, differentiable in the flow too.
        if levels0 and not (torch.is_grad_enabled() and flow0t.requires_grad):
            tile = self.config.patch_size
            plan0, plan1 = plan_splat(flow0t, weight=inside, tile=tile), plan_splat(flow1t, weight=inside, tile=tile)
            raw0, raw1 = plan0.apply(pair.image0), plan1.apply(pair.image1)
            hole0, hole1 = plan0.hole, plan1.hole
            context: ContextPatches = SplatContext(
                levels0, levels1, plan0, plan1, patch_size=self.config.patch_size, channels_last=channels_last
            )
        else:
            splat0 = forward_splat(pair.image0, flow0t, weight=inside)
            splat1 = forward_splat(pair.image1, flow1t, weight=inside)
            raw0, raw1, hole0, hole1 = splat0.image, splat1.image, splat0.hole, splat1.hole
            context = WarpedContext(
                [forward_splat(level, flow0t, weight=inside).image for level in levels0],
                [forward_splat(level, flow1t, weight=inside).image for level in levels1],
                patch_size=self.config.patch_size,
                channels_last=channels_last,
            )
        image0, image1 = fill_holes(raw0, raw1, hole0, hole1, (1 - t) * pair.image0 + t * pair.image1)
        return WarpedPair(
            image0=image0,
            image1=image1,
            hole0=hole0,
            hole1=hole1,
            flow0t=flow0t,
            flow1t=flow1t,
            context=context,
            t=t,
        )

    def flow_only(self, pair: PairState, t: float | Tensor = 0.5) -> Tensor:
        """The flow-only interpolation (:func:`~aprvfi_cli.model.flow_only.flow_only_frame`): both
        frames splatted to ``t`` and blended by time, (B, 3, H, W); the frame :meth:`warp` and
        ``WarpedPair.blend`` give, computed on the content only."""
        crop = (..., slice(0, pair.size[0]), slice(0, pair.size[1]))
        return flow_only_frame(pair.image0[crop], pair.image1[crop], pair.flow[crop], t)

    def synthesize(
        self,
        pair: PairState,
        t: float | Tensor = 0.5,
        *,
        routing: Routing | None = None,
        max_patches: int | None = None,
        channels_last: bool = False,
        release_context: bool = False,
    ) -> SynthesisOutput:
        """Synthesise the frame at ``t`` for every pair.

        Args:
            pair: from :meth:`estimate`.
            t: a float or a (B,) tensor in [0, 1].
            routing: the routing policy; default: router argmax (``apr``), or Gumbel-softmax
                in training mode.
            max_patches: run the synthesis on at most this many patches at a time (bounds
                memory for 4K frames; the result does not depend on it).
            channels_last: read patches in channels_last layout (the caller's placement
                decides; it matches a model moved to that memory format).
            release_context: this is the pair's last use: its context levels move into the
                synthesis and are freed with it (the frame is the same). ``pair`` then has no
                context. The context is splatted patch by patch, so no whole-frame warped copy
                is ever held beside it.
        """
        if routing is None:
            routing = Routing(mode="gumbel") if self.training else Routing(mode="apr")
        cfg = self.config
        if len(pair.context0) != cfg.num_blocks:  # estimated without context, or already released
            raise ValueError(f"synthesis needs {cfg.num_blocks} context levels, the pair has {len(pair.context0)}")
        warped = self.warp(pair, t, release_context=release_context, channels_last=channels_last)
        logits = self.router(warped.image0, warped.image1, warped.flow0t, warped.flow1t, channels_last=channels_last)
        route = route_decisions(logits, routing)  # (B, D, n_h, n_w)

        scale = 1.0 / cfg.patch_size
        # In the blocks' layout and compute dtype, so its patches are gathered straight into block 1's input.
        guide = cat_channels(
            [
                warped.image0,
                warped.image1,
                warped.flow0t * scale,
                warped.flow1t * scale,
                warped.hole0,
                warped.hole1,
            ],
            channels_last=channels_last,
            convolved=True,
        )
        head = warped.image0.new_empty(guide.shape[0], 4, *guide.shape[2:])
        patches = all_patches(guide, cfg.patch_size)
        route_per_patch = route.permute(0, 2, 3, 1).reshape(-1, route.shape[1])
        chunk = max_patches or patches.numel()
        for start in range(0, patches.numel(), chunk):
            index = patches[start : start + chunk]
            out = self.synthesis(
                guide=gather_patches(guide, index, cfg.patch_size, channels_last=channels_last),
                index=index,
                context=warped.context,
                route=None if routing.mode == "static" else route_per_patch[index],
                dense=routing.mode == "gumbel",
            )
            scatter_patches(head, index, out, cfg.patch_size)

        mask = torch.sigmoid(head[:, :1] + torch.logit(1 - warped.t, eps=1e-6))
        frame = mask * warped.image0 + (1 - mask) * warped.image1 + head[:, 1:]
        frame = frame.clamp(0, 1)[..., : pair.size[0], : pair.size[1]]
        return SynthesisOutput(frame=frame, route_map=route > 0.5, route_logits=logits, warped=warped)

    def forward(
        self, img0: Tensor, img1: Tensor, t: float | Tensor = 0.5, *, routing: Routing | None = None
    ) -> SynthesisOutput:
        return self.synthesize(self.estimate(img0, img1), t, routing=routing)


def _take(levels: list[Tensor], release: bool) -> list[Tensor]:
    """The context levels; with ``release`` they move out of ``levels`` (the pair no longer holds them)."""
    if not release:
        return list(levels)
    taken = levels[:]
    levels.clear()
    return taken
