"""``aprvfi bench``: the JSON keys the issue names, and its usage errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aprvfi_cli.errors import UsageError
from aprvfi_cli.eval.speed import main, parse_size


def test_bench_writes_the_named_keys(tmp_path: Path) -> None:
    out = tmp_path / "speed.json"
    assert main(["--preset", "tiny", "--sizes", "64x48", "--repeats", "1", "--no-peers", "--json", str(out)]) == 0
    numbers = json.loads(out.read_text())["sizes"]["64x48"]
    for key in ("params", "flops_static", "flops_apr", "time_static_s", "time_apr_s"):
        assert numbers[key] > 0
    assert numbers["flops_apr"] < numbers["flops_static"]
    modes = {mode["mode"]: mode for mode in numbers["modes"]}
    assert {"flow-only", "static", "apr", "apr 0.2", "apr 0.8"} <= set(modes)
    # The dial is monotone in FLOPs, and flow-only is below every synthesis mode.
    assert (
        modes["flow-only"]["flops"] < modes["apr 0.2"]["flops"] < modes["apr 0.8"]["flops"] < modes["static"]["flops"]
    )
    assert all(mode["time_s"] > 0 for mode in modes.values())


@pytest.mark.parametrize("text", ["0x5", "abc", "12x", "-3x4"])
def test_bad_sizes_are_usage_errors(text: str) -> None:
    with pytest.raises(UsageError, match="--sizes"):
        parse_size(text)


def test_bad_dial_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="--dial"):
        main(["--preset", "tiny", "--sizes", "64x48", "--dial", "0.2,1.5"])
