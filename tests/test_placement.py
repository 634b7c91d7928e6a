"""The placement: device, precision, memory format and threads decided once from the user's words."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest
import torch

from aprvfi_cli.errors import UsageError
from aprvfi_cli.placement import Placement, cpu_flags, cpu_has_native_bf16, resolve_placement


@pytest.fixture
def keep_threads():
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


@pytest.mark.parametrize(
    ("flags", "native"),
    [
        ({"sse2", "avx", "avx2", "fma"}, False),  # this machine's kind: AVX2 only, bf16 emulated
        ({"avx2", "avx512f", "avx512bw", "avx512_vnni"}, False),  # AVX-512 without its bf16 extension
        ({"avx2", "avx512f", "avx512_bf16"}, True),  # Cooper Lake, Zen 4
        ({"avx2", "amx_tile", "amx_bf16", "amx_int8"}, True),  # Sapphire Rapids
        (set(), False),
    ],
)
def test_native_bf16_is_a_function_of_the_cpu_flags(flags: set[str], native: bool) -> None:
    assert cpu_has_native_bf16(flags) is native


def test_auto_precision_on_this_cpu_follows_proc_cpuinfo() -> None:
    info = Path("/proc/cpuinfo")
    if not info.is_file():
        pytest.skip("no /proc/cpuinfo")
    flags = next(line.split(":", 1)[1].split() for line in info.read_text().splitlines() if line.startswith("flags"))
    assert cpu_flags() == frozenset(flags)
    expected = torch.bfloat16 if {"avx512_bf16", "amx_bf16"} & set(flags) else torch.float32
    assert resolve_placement("cpu", "auto").dtype == expected


def test_cpu_placement(keep_threads) -> None:
    placement = resolve_placement("cpu", "fp32", threads=1)
    assert placement.device == torch.device("cpu") and placement.dtype == torch.float32
    assert placement.channels_last and placement.threads == 1 and torch.get_num_threads() == 1
    assert isinstance(placement.autocast(), contextlib.nullcontext)
    image = placement.to(torch.zeros(1, 3, 8, 8))
    assert image.is_contiguous(memory_format=torch.channels_last)
    conv = placement.to(torch.nn.Conv2d(3, 4, 3))
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    assert placement.to(torch.zeros(5)).shape == (5,)
    assert placement.describe() == "cpu, fp32, 1 thread"


def test_bf16_autocasts_on_the_cpu() -> None:
    placement = resolve_placement("cpu", "bf16")
    assert placement.precision == "bf16"
    with placement.autocast():
        assert (torch.ones(2, 2) @ torch.ones(2, 2)).dtype == torch.bfloat16


def test_threads_default_to_the_environment(monkeypatch: pytest.MonkeyPatch, keep_threads) -> None:
    monkeypatch.setenv("APRVFI_THREADS", "1")
    assert resolve_placement("cpu", "fp32").threads == 1
    monkeypatch.delenv("APRVFI_THREADS")
    assert resolve_placement("cpu", "fp32").threads is None


def test_the_default_placement_has_no_side_effects() -> None:
    placement = Placement.cpu()
    assert placement.channels_last and placement.dtype == torch.float32 and placement.threads is None


@pytest.mark.parametrize(
    ("words", "subject", "message"),
    [
        ({"device": "tpu"}, "device", "unknown device"),
        ({"precision": "fp8"}, "precision", "unknown precision"),
        ({"device": "cpu", "precision": "fp16"}, "precision", "fp16 needs a CUDA device"),
        ({"threads": 0}, "threads", "positive"),
        ({"threads": -1}, "threads", "positive"),
    ],
)
def test_errors_speak_the_domain(words: dict, subject: str, message: str) -> None:
    with pytest.raises(UsageError, match=message) as caught:
        resolve_placement(**words)
    assert caught.value.subject == subject and "--" not in caught.value.message


def test_cuda_without_a_gpu() -> None:
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    with pytest.raises(UsageError, match="CUDA was requested but no GPU is available"):
        resolve_placement("cuda")
