"""The long fuzz run: hundreds of byte-flipped MP4/MKV/TS files through `aprvfi convert`.

Same harness and invariant as tests/test_fuzz.py (exit 0 with every frame it claims, or exit
1/2 with one plain line; no traceback, hang, leftover file or touched input), run in-process
through ``aprvfi_cli.cli.main``. Prints a table; exits 1 if any case broke the invariant.

Usage: python benchmarks/fuzz_inputs.py [--count 300] [--seed 20261125] [--weights-dir DIR]
(DIR: a folder with ebme-bi-flownet.pkl; default: random tiny flow weights, which is all the
video path needs.)
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from test_fuzz import CONTAINERS, SEED, check_case, fuzz_cases, seed_clips  # noqa: E402


def tiny_weights(folder: Path) -> Path:
    """A random-init EBME-format flow file (as the test suite's fixture makes)."""
    import torch

    from aprvfi_cli.model import APRVFI, ModelConfig

    torch.manual_seed(0)
    flow = APRVFI(ModelConfig.tiny()).flow
    torch.save({f"module.{k}": v for k, v in flow.state_dict().items()}, folder / "ebme-bi-flownet.pkl")
    return folder


def run_cli(args: list[str]) -> tuple[int, str, str]:
    """``aprvfi ARGS`` in this process, its stdout and stderr captured."""
    from aprvfi_cli.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(args)
    return code, out.getvalue(), err.getvalue()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=300)
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--weights-dir", type=Path, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="aprvfi-fuzz-") as temp:
        folder = Path(temp)
        os.environ["APRVFI_WEIGHTS_DIR"] = str(args.weights_dir or tiny_weights(folder))
        seeds = seed_clips(folder)
        started = time.perf_counter()
        outcomes = [check_case(run_cli, case, case.parent) for case in fuzz_cases(seeds, folder, args.count, args.seed)]
        seconds = time.perf_counter() - started
    table = Counter((o.name.rsplit(".", 1)[1], o.code) for o in outcomes)
    print(f"fuzz run: {len(outcomes)} files, seed {args.seed}, {seconds:.0f} s")
    print("| container | exit 0 | exit 1 | exit 2 | other |")
    print("|---|---|---|---|---|")
    for ext in CONTAINERS:
        other = sum(n for (e, code), n in table.items() if e == ext and code not in (0, 1, 2))
        print(f"| {ext} | {table[ext, 0]} | {table[ext, 1]} | {table[ext, 2]} | {other} |")
    problems = [o for o in outcomes if o.problem]
    print(f"invariant broken: {len(problems)}")
    for outcome in problems:
        print(f"  {outcome.name}: exit {outcome.code}: {outcome.problem}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
