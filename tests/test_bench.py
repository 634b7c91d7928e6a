"""``aprvfi bench``: the JSON keys the issue names, and its usage errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aprvfi_cli.errors import UsageError
from aprvfi_cli.eval.speed import main, parse_size


def test_bench_writes_the_named_keys(tmp_path: Path) -> None:
    out = tmp_path / "speed.json"
    assert main(["--preset", "tiny", "--sizes", "64x48", "--repeats", "1", "--json", str(out)]) == 0
    numbers = json.loads(out.read_text())["sizes"]["64x48"]
    for key in ("params", "flops_static", "flops_apr", "time_static_s", "time_apr_s"):
        assert numbers[key] > 0
    assert numbers["flops_apr"] < numbers["flops_static"]


@pytest.mark.parametrize("text", ["0x5", "abc", "12x", "-3x4"])
def test_bad_sizes_are_usage_errors(text: str) -> None:
    with pytest.raises(UsageError, match="--sizes"):
        parse_size(text)
