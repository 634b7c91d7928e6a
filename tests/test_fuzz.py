"""Byte-flipped MP4, MKV and TS files through `aprvfi convert` (fixed seed, a few dozen files).

The invariant for each: exit 0 with every frame it claims (the output decodes to exactly the
frames the summary line counts), or exit 1/2 with one line; never a traceback, a hang, a
leftover file or a touched input. ``benchmarks/fuzz_inputs.py`` runs the same on hundreds.
"""

from __future__ import annotations

import random
import re
import signal
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import pytest
from conftest import make_clip

SEED = 20261125
CONTAINERS = ("mp4", "mkv", "ts")
_SUMMARY = re.compile(r": (\d+) frames in, (\d+) out, ")


class Hang(BaseException):
    """Raised by the alarm: not an Exception, so the CLI's edge cannot turn it into an exit code."""


@dataclass(frozen=True)
class Outcome:
    """What one fuzzed conversion did; ``problem`` is None when the invariant holds."""

    name: str
    code: int
    problem: str | None


def seed_clips(folder: Path, *, frames: int = 30) -> dict[str, Path]:
    """One 64x48 clip with audio per container (1 s at 30 fps)."""
    return {ext: make_clip(folder / f"seed.{ext}", frames=frames, rate=Fraction(30), audio=True) for ext in CONTAINERS}


def flip_bytes(data: bytes, rng: random.Random) -> bytes:
    """1-8 random bytes replaced, or (one case in five) the file cut at a random point."""
    if rng.random() < 0.2:
        return data[: rng.randrange(len(data) // 4, len(data))]
    out = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        out[rng.randrange(16, len(out))] = rng.randrange(256)
    return bytes(out)


def decoded_frames(path: Path) -> int:
    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(video=0))


def check_case(
    run: Callable[[list[str]], tuple[int, str, str]], source: Path, folder: Path, *, timeout: int = 60
) -> Outcome:
    """Convert ``source`` (in ``folder``, alone) to 60 fps and check the invariant."""
    before = source.read_bytes()
    target = folder / "out.mkv"

    def alarm(signum, frame):
        raise Hang()

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(timeout)
    try:
        code, out, err = run(["convert", str(source), "--fps", "60", "-o", str(target), "--threads", "1"])
    except Hang:
        return Outcome(source.name, -1, f"no result after {timeout} s")
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    lines = [line for line in err.splitlines() if line.strip() and not line.startswith("aprvfi: note:")]
    left = sorted(p.name for p in folder.iterdir() if p not in (source, target))
    problem = None
    if "Traceback" in err:
        problem = "traceback"
    elif source.read_bytes() != before:
        problem = "input changed"
    elif left:
        problem = f"left behind: {left}"
    elif code == 0:
        claimed = _SUMMARY.search(out)
        if claimed is None or not target.exists():
            problem = f"exit 0 without an output or summary: {out!r}"
        elif decoded_frames(target) != int(claimed.group(2)):
            problem = f"output has {decoded_frames(target)} frames, the summary claims {claimed.group(2)}"
    elif code in (1, 2):
        if len(lines) != 1 or not lines[0].startswith("aprvfi: error: ") or "unexpected" in lines[0]:
            problem = f"not one plain error line: {lines}"
        elif target.exists():
            problem = "failed but wrote the output"
    else:
        problem = f"exit code {code}: {lines}"
    return Outcome(source.name, code, problem)


def fuzz_cases(seeds: dict[str, Path], folder: Path, count: int, seed: int) -> list[Path]:
    """``count`` fuzzed files (round robin over the containers), each in its own folder."""
    rng = random.Random(seed)
    cases = []
    for n in range(count):
        ext = CONTAINERS[n % len(CONTAINERS)]
        case = folder / f"case{n:04d}"
        case.mkdir()
        path = case / f"fuzz{n:04d}.{ext}"
        path.write_bytes(flip_bytes(seeds[ext].read_bytes(), rng))
        cases.append(path)
    return cases


@pytest.fixture(scope="module")
def seeds(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return seed_clips(tmp_path_factory.mktemp("seeds"), frames=20)


def test_fuzzed_files_keep_the_promise(cli, seeds: dict[str, Path], tmp_path: Path) -> None:

    def run(args: list[str]) -> tuple[int, str, str]:
        result = cli(*args)
        return result.code, result.out, result.err

    outcomes = [check_case(run, case, case.parent) for case in fuzz_cases(seeds, tmp_path, 36, SEED)]
    problems = [f"{o.name}: {o.problem}" for o in outcomes if o.problem]
    assert problems == []
    assert any(o.code == 0 for o in outcomes) and any(o.code == 1 for o in outcomes)  # both paths ran


@pytest.mark.parametrize("ext", CONTAINERS)
def test_unharmed_seed_converts(cli, seeds: dict[str, Path], tmp_path: Path, ext: str) -> None:
    """The harness itself: an unchanged file passes with exit 0."""
    case = tmp_path / "case"
    case.mkdir()
    source = case / f"clip.{ext}"
    source.write_bytes(seeds[ext].read_bytes())

    def run(args: list[str]) -> tuple[int, str, str]:
        result = cli(*args)
        return result.code, result.out, result.err

    assert check_case(run, source, case) == Outcome(source.name, 0, None)
