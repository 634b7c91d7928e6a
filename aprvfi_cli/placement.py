"""Where and how the network runs: device, compute precision, memory format and CPU threads.

Decided once, at the edge (a command, ``load_model``, the trainer), by :func:`resolve_placement`,
and passed down as a :class:`Placement`; nothing below it chooses any of these again.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Collection
from dataclasses import dataclass
from typing import TypeVar

import torch

from aprvfi_cli.errors import UsageError

DEVICES = ("auto", "cpu", "cuda")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
_DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
# CPU features that run bf16 matrix maths natively; without them torch emulates bf16 (slower than fp32)
NATIVE_BF16_CPU_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})

Movable = TypeVar("Movable", torch.nn.Module, torch.Tensor)


@dataclass(frozen=True)
class Placement:
    """Where and how a model runs.

    Attributes:
        device: the torch device.
        dtype: the compute precision: float32 runs without autocast, bfloat16/float16 under it
            (weights stay float32).
        memory_format: channels_last on CPU (its 3x3 convolutions are several times faster),
            contiguous on CUDA.
        threads: CPU threads torch was set to, or None where torch's default was left alone.
    """

    device: torch.device
    dtype: torch.dtype = torch.float32
    memory_format: torch.memory_format = torch.contiguous_format
    threads: int | None = None

    @classmethod
    def cpu(cls) -> Placement:
        """The CPU in fp32 and channels_last, torch's threads untouched (no side effects)."""
        return cls(device=torch.device("cpu"), memory_format=torch.channels_last)

    @property
    def channels_last(self) -> bool:
        return self.memory_format == torch.channels_last

    @property
    def patch_batch(self) -> int:
        """Patches the synthesis runs at a time: few on the CPU, many on a GPU.

        On the CPU 32 patches keep a block's largest map under glibc's mmap threshold, so the heap
        reuses it chunk after chunk instead of faulting in fresh pages for every map (faster and
        smaller: ``docs/BENCHMARKS.md`` §6). A GPU wants large batches.
        """
        return 32 if self.device.type == "cpu" else 256

    @property
    def precision(self) -> str:
        """``fp32``, ``bf16`` or ``fp16``."""
        return next(name for name, dtype in _DTYPES.items() if dtype == self.dtype)

    def autocast(self) -> contextlib.AbstractContextManager:
        """The context the forward pass runs in: nothing for fp32, else torch's autocast."""
        if self.dtype == torch.float32:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.dtype)

    def to(self, item: Movable) -> Movable:
        """A module or tensor on the device, in the memory format (4-D tensors; modules' conv weights)."""
        if isinstance(item, torch.nn.Module):
            return item.to(self.device).to(memory_format=self.memory_format)
        if item.dim() == 4:
            return item.to(self.device, memory_format=self.memory_format)
        return item.to(self.device)

    def synchronize(self) -> None:
        """Wait for queued GPU work (for wall-clock timings); nothing on the CPU."""
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def describe(self) -> str:
        """Device, precision and, on the CPU, the threads torch runs: ``cpu, fp32, 2 threads``."""
        if self.device.type != "cpu":
            return f"{self.device}, {self.precision}"
        threads = self.threads or torch.get_num_threads()  # None: torch's default, read now
        return f"{self.device}, {self.precision}, {threads} thread{'s' if threads > 1 else ''}"


def cpu_has_native_bf16(flags: Collection[str]) -> bool:
    """True when a CPU with these feature flags (``/proc/cpuinfo`` names) computes bf16 natively."""
    return any(flag.lower() in NATIVE_BF16_CPU_FLAGS for flag in flags)


def cpu_flags() -> frozenset[str]:
    """This CPU's feature flags: ``/proc/cpuinfo`` on Linux, else torch's own CPU probe."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as info:
            for line in info:
                if line.startswith(("flags", "Features")):
                    return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    # get_cpu_capability() only names the vector width (AVX2, AVX512), not bf16; torch's probe does
    probe = getattr(getattr(torch._C, "_cpu", None), "_get_cpu_capability", None)
    if probe is None:
        return frozenset({torch.backends.cpu.get_cpu_capability().lower()})
    return frozenset(name for name, present in probe().items() if present is True)


def resolve_device(device: str) -> torch.device:
    """``auto`` picks CUDA when present; ``cuda`` (or ``cuda:N``) without a GPU is a usage error."""
    name = str(device).strip().lower()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name == "cuda" or name.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise UsageError("CUDA was requested but no GPU is available (use the CPU)", subject="device")
        try:
            return torch.device(name)
        except RuntimeError:
            raise UsageError(f"unknown device {device!r} (choose auto, cpu or cuda)", subject="device") from None
    raise UsageError(f"unknown device {device!r} (choose auto, cpu or cuda)", subject="device")


def resolve_precision(precision: str, device: torch.device) -> torch.dtype:
    """``auto``: bf16 on CUDA (fp16 where bf16 is unsupported); on the CPU bf16 only where the
    CPU computes it natively (AVX512-BF16 or AMX), else fp32."""
    name = str(precision).strip().lower()
    if name == "auto":
        if device.type == "cuda":
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.bfloat16 if cpu_has_native_bf16(cpu_flags()) else torch.float32
    if name not in _DTYPES:
        raise UsageError(f"unknown precision {precision!r} (choose auto, fp32, bf16 or fp16)", subject="precision")
    if name == "fp16" and device.type != "cuda":
        raise UsageError("fp16 needs a CUDA device (use fp32 or bf16 on the CPU)", subject="precision")
    return _DTYPES[name]


def default_threads() -> int | None:
    """CPU threads when none are asked for: ``$APRVFI_THREADS``, else None (torch's default: every core).

    Every core is fastest on a quiet machine (``docs/BENCHMARKS.md`` §6); on a machine where
    another process holds a core, ``APRVFI_THREADS=1`` is the way out.
    """
    value = os.environ.get("APRVFI_THREADS", "").strip()
    if not value:
        return None
    if not value.isdigit() or int(value) < 1:
        raise UsageError(f"APRVFI_THREADS must be a positive integer, got {value!r}")
    return int(value)


def resolve_placement(device: str = "auto", precision: str = "auto", threads: int | None = None) -> Placement:
    """The :class:`Placement` for the user's words.

    Args:
        device: ``auto``, ``cpu`` or ``cuda`` (``cuda:N``).
        precision: ``auto``, ``fp32``, ``bf16`` or ``fp16``.
        threads: CPU threads for torch (>= 1); None: ``$APRVFI_THREADS``, else torch's default.
            Torch's thread count is process-wide, so a CPU placement sets it here.

    Raises:
        UsageError: an unknown word, CUDA without a GPU, fp16 on the CPU, threads < 1.
    """
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
        raise UsageError(f"CPU threads must be a positive integer, got {threads!r}", subject="threads")
    torch_device = resolve_device(device)
    dtype = resolve_precision(precision, torch_device)
    on_cpu = torch_device.type == "cpu"
    threads = threads if threads is not None else default_threads()
    if on_cpu and threads is not None:
        torch.set_num_threads(threads)
    return Placement(
        device=torch_device,
        dtype=dtype,
        memory_format=torch.channels_last if on_cpu else torch.contiguous_format,
        threads=threads if on_cpu else None,
    )
