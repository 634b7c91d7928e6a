"""The :class:`Interpolator`: an APR-VFI model on a device, with numpy images in and out.

Two methods: ``model`` (the full APR-VFI network with trained weights) and ``flow-only`` (the
EBME flow network's bidirectional flow, both frames splatted to t and blended; used while no
trained APR-VFI weights ship).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from aprvfi_cli.errors import ModelError, UsageError

Method = Literal["model", "flow-only"]
_EBME_KEY_PREFIXES = ("module.feat_pyramid.", "module.flow_estimator.")


def resolve_device(device: str) -> torch.device:
    """``auto`` picks CUDA when present; ``cuda`` without a GPU is a usage error."""
    name = device.strip().lower()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise UsageError("--device cuda: no CUDA GPU is available (use --device cpu)")
        return torch.device(name)
    if name == "cpu":
        return torch.device("cpu")
    raise UsageError(f"unknown device {device!r} (choose auto, cpu or cuda)")


def resolve_precision(precision: str, device: torch.device) -> torch.dtype:
    """``auto``: bf16 (else fp16) on CUDA, fp32 on CPU."""
    name = precision.strip().lower()
    if name == "auto":
        if device.type == "cuda":
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.float32
    table = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
    if name not in table:
        raise UsageError(f"unknown precision {precision!r} (choose auto, fp32, bf16 or fp16)")
    if table[name] is torch.float16 and device.type != "cuda":
        raise UsageError("--precision fp16 needs a CUDA device (use fp32 or bf16 on CPU)")
    return table[name]


@dataclass(frozen=True)
class Origin:
    """Where the weights came from, for the one-line note to the user."""

    method: Method
    path: Path | None

    def describe(self) -> str:
        if self.method == "model":
            return f"APR-VFI model ({self.path})"
        return f"flow-only interpolation (EBME flow weights {self.path}; no trained APR-VFI weights installed)"


class Interpolator:
    """Interpolate frames with an APR-VFI model.

    Args:
        model: an :class:`aprvfi_cli.model.APRVFI` (weights loaded).
        method: ``model`` (full synthesis) or ``flow-only``.
        device: where to run; precision: the autocast dtype (fp32 runs without autocast).
        routing: the routing policy for the dynamic blocks (``model`` method).
        max_patches: synthesis runs on at most this many patches at a time (bounds memory).
        origin: where the weights came from.
    """

    def __init__(
        self,
        model: torch.nn.Module,
        *,
        method: Method = "model",
        device: torch.device | str = "cpu",
        precision: torch.dtype = torch.float32,
        routing: object | None = None,
        max_patches: int | None = 256,
        origin: Origin | None = None,
    ) -> None:
        from aprvfi_cli.model import Routing

        self.device = torch.device(device)
        self.precision = precision
        self.method: Method = method
        self.routing = routing if routing is not None else Routing(mode="apr")
        self.max_patches = max_patches
        self.origin = origin or Origin(method=method, path=None)
        model = model.eval().to(self.device)
        if self.device.type == "cpu":
            model = model.to(memory_format=torch.channels_last)  # faster convolutions on CPU
        self.model = model

    def describe(self) -> str:
        return self.origin.describe()

    def _autocast(self) -> contextlib.AbstractContextManager:
        if self.precision is torch.float32:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.precision)

    def to_tensor(self, images: Sequence[np.ndarray]) -> torch.Tensor:
        """(B, 3, H, W) float32 in [0, 1] on the device from (H, W, 3) uint8/uint16 arrays."""
        scale = 65535.0 if images[0].dtype == np.uint16 else 255.0
        stacked = torch.from_numpy(np.stack(images)).to(self.device)
        return stacked.permute(0, 3, 1, 2).float().div_(scale)

    @staticmethod
    def to_images(frames: torch.Tensor, dtype: np.dtype) -> list[np.ndarray]:
        """(B, 3, H, W) in [0, 1] -> list of (H, W, 3) arrays of ``dtype`` (rounded)."""
        scale = 65535.0 if dtype == np.uint16 else 255.0
        scaled = frames.float().clamp(0, 1).mul(scale).round().permute(0, 2, 3, 1).cpu().numpy()
        return [np.ascontiguousarray(x.astype(dtype)) for x in scaled]

    @torch.inference_mode()
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
        with self._autocast():
            pair = self._estimate(img0, img1)
            index = [b for b, ts in enumerate(times) for _ in ts]
            flat_t = [float(t) for ts in times for t in ts]
            results: list[torch.Tensor] = []
            if index:
                rows = max(1, img0.shape[0])  # synthesise at most B frames at once
                for start in range(0, len(index), rows):
                    sel = torch.tensor(index[start : start + rows], device=self.device)
                    t = torch.tensor(flat_t[start : start + rows], device=self.device)
                    sub = pair.select(sel)
                    if self.method == "flow-only":
                        frames = self.model.flow_only(sub, t)
                    else:
                        frames = self.model.synthesize(sub, t, routing=self.routing, max_patches=self.max_patches).frame
                    results.append(frames.float())
            flat = torch.cat(results) if results else img0.new_zeros(0, *img0.shape[1:])
        out, start = [], 0
        for ts in times:
            out.append(flat[start : start + len(ts)])
            start += len(ts)
        return out

    def _estimate(self, img0: torch.Tensor, img1: torch.Tensor):
        """Flow (and context, which only the full model uses) for a batch of pairs."""
        # flow-only: no context features, so warping splats 3 channels instead of 3 + context
        return self.model.estimate(img0, img1, context=self.method == "model")

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
        if img0.shape != img1.shape or img0.dtype != img1.dtype:
            raise ValueError(f"images differ: {img0.shape} {img0.dtype} vs {img1.shape} {img1.dtype}")
        single = isinstance(t, (int, float))
        ts = [float(t)] if single else [float(x) for x in t]
        if any(not 0.0 <= x <= 1.0 for x in ts):
            raise ValueError("t must lie in [0, 1]")
        inner = [x for x in ts if 0.0 < x < 1.0]
        made = iter(self.interpolate_pairs([img0], [img1], [inner])[0]) if inner else iter(())
        out = [img0.copy() if x == 0 else img1.copy() if x == 1 else next(made) for x in ts]
        return out[0] if single else out


def default_cpu_threads() -> int | None:
    """CPU threads for torch: ``$APRVFI_THREADS`` if set, else None (torch's default, every core).

    On a quiet 2-core machine 2 threads beat 1 by 1.76x (flow-only 720p: 1.14 vs 2.01 s/pair);
    on a machine where another process holds a core, OpenMP threads spin waiting for it
    (measured 16x slower), and ``APRVFI_THREADS=1`` is the way out.
    """
    value = os.environ.get("APRVFI_THREADS", "").strip()
    if not value:
        return None
    if not value.isdigit() or int(value) < 1:
        raise UsageError(f"APRVFI_THREADS must be a positive integer, got {value!r}")
    return int(value)


def _is_ebme_file(path: Path) -> bool:
    """True if ``path`` holds the EBME authors' BiFlowNet state dict (not an aprvfi file)."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # unreadable files are reported by the proper loader
        return False
    return (
        isinstance(state, dict)
        and bool(state)
        and all(isinstance(k, str) and k.startswith(_EBME_KEY_PREFIXES) for k in state)
    )


def load_model(
    weights: str | Path | None = None,
    device: str = "auto",
    precision: str = "auto",
    *,
    route: str = "apr",
    max_patches: int | None = 256,
    threads: int | None = None,
) -> Interpolator:
    """Build an :class:`Interpolator`.

    ``weights``: an aprvfi weights file, or an EBME ``bi-flownet.pkl`` (flow-only). None: the
    shipped default APR-VFI weights if any, else flow-only with the shipped EBME flow weights.
    ``threads``: CPU threads for torch (None leaves torch's setting alone).
    Raises :class:`ModelError` / :class:`UsageError` with a one-line message.
    """
    from aprvfi_cli.model import APRVFI, ModelConfig, Routing, WeightsError, load_ebme_flow
    from aprvfi_cli.model.weights import default_weights, ebme_flow_weights, load_weights

    torch_device = resolve_device(device)
    dtype = resolve_precision(precision, torch_device)
    if threads is not None and torch_device.type == "cpu":
        torch.set_num_threads(max(1, threads))  # process-wide: torch has no per-model setting
    try:
        routing = Routing.parse(route)
    except ValueError as error:
        raise UsageError(str(error)) from error
    try:
        if weights is not None:
            path = Path(weights)
            if not path.is_file():
                raise UsageError(f"weights file not found: {path}")
            if _is_ebme_file(path):
                model, origin = APRVFI(ModelConfig.paper()), Origin("flow-only", path)
                load_ebme_flow(model.flow, path)
            else:
                model, origin = load_weights(path), Origin("model", path)
        elif (default := default_weights()) is not None:
            model, origin = load_weights(default), Origin("model", default)
        else:
            path = ebme_flow_weights()
            if not path.is_file():
                raise ModelError(
                    f"no weights found: neither APR-VFI weights nor {path} (set APRVFI_WEIGHTS_DIR or pass --weights)"
                )
            model, origin = APRVFI(ModelConfig.paper()), Origin("flow-only", path)
            load_ebme_flow(model.flow, path)
    except WeightsError as error:
        raise ModelError(str(error)) from error
    if routing.mode == "keep" and origin.method == "model":
        blocks = model.config.num_dynamic_blocks
        if len(routing.keep_ratios or ()) != blocks:
            raise UsageError(f"--route needs {blocks} keep ratios for this model")
    return Interpolator(
        model,
        method=origin.method,
        device=torch_device,
        precision=dtype,
        routing=routing,
        max_patches=max_patches,
        origin=origin,
    )
