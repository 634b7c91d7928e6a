"""``aprvfi bench``: the JSON keys the issue names, --weights and --route as everywhere, its usage errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import assert_one_error

from aprvfi_cli.cli.bench_command import parse_size
from aprvfi_cli.errors import UsageError
from aprvfi_cli.model import APRVFI, ModelConfig
from aprvfi_cli.model.weights import save_weights


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("tiny") / "tiny.pt"
    save_weights(path, APRVFI(ModelConfig.tiny()))
    return path


def bench(cli, tiny: Path, out: Path, *args: object):
    return cli("bench", "--weights", tiny, "--sizes", "64x48", "--repeats", "1", "--no-peers", "--device", "cpu",
               "--precision", "fp32", "--json", out, *args)  # fmt: skip


def test_bench_writes_the_named_keys(cli, tiny: Path, tmp_path: Path) -> None:
    out = tmp_path / "speed.json"
    result = bench(cli, tiny, out)
    assert result.code == 0, result.err
    report = json.loads(out.read_text())
    assert report["preset"] == "tiny" and report["precision"] == "fp32" and str(tiny) in report["weights"]
    assert report["openmp_wait_policy"] in {"active", "passive", "default"}  # timings depend on it
    numbers = report["sizes"]["64x48"]
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
    # --route apr (the default): timed at the keep ratios the router is trained to
    assert report["keep_ratios"] == list(ModelConfig.tiny().keep_ratios)


def test_bench_route_is_the_route_of_every_command(cli, tiny: Path, tmp_path: Path) -> None:
    out = tmp_path / "static.json"
    assert bench(cli, tiny, out, "--route", "static", "--dial", "").code == 0
    numbers = json.loads(out.read_text())["sizes"]["64x48"]
    assert numbers["flops_apr"] == numbers["flops_static"]  # the apr row routes as --route says
    blocks = ModelConfig.tiny().num_dynamic_blocks
    assert bench(cli, tiny, out, "--route", ",".join(["0.5"] * blocks), "--dial", "").code == 0
    assert json.loads(out.read_text())["keep_ratios"] == [0.5] * blocks
    assert_one_error(bench(cli, tiny, out, "--route", "0.5,0.5,0.5,0.5,0.5"), 2, "--route")


def test_bench_usage_errors(cli, tiny: Path, tmp_path: Path) -> None:
    assert_one_error(cli("bench", "--sizes", "64"), 2, "--sizes")
    assert_one_error(bench(cli, tiny, tmp_path / "x.json", "--dial", "0.2,1.5"), 2, "--dial")
    assert_one_error(cli("bench", "--weights", tmp_path / "missing.pt"), 2, "--weights")
    assert_one_error(cli("bench", "--preset", "tiny"), 2, "preset")  # the model is --weights', as everywhere
    assert_one_error(cli("bench", "--bogus"), 2, "bogus")


@pytest.mark.parametrize("text", ["0x5", "abc", "12x", "-3x4"])
def test_bad_sizes_are_usage_errors(text: str) -> None:
    with pytest.raises(UsageError, match="--sizes"):
        parse_size(text)
