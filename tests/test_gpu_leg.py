"""The GPU leg's dry run: ``APRVFI_DEVICE=cpu bash benchmarks/gpu_leg.sh OUT 1`` runs every step of a leg
at tiny sizes on the CPU, so the script cannot rot while no GPU is lent. Two legs chain: the second
continues the first's chain head."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from test_data_pack import tiny_sources

from aprvfi_cli.data.pack_build import PackSettings, build_pack
from aprvfi_cli.model.weights import read_weights, resolve_weights
from aprvfi_cli.train.checkpoint import load_checkpoint
from aprvfi_cli.train.leg import CHAIN_FILES

ROOT = Path(__file__).resolve().parent.parent


def leg(out: Path, pack: Path, *, chain: Path | None = None, **env: str) -> dict:
    variables = {**os.environ, "APRVFI_DEVICE": "cpu", "APRVFI_PACK": str(pack), "APRVFI_LEG_STEPS": "2"}
    variables.update(APRVFI_LEG_WORK=str(out.parent / "work"), APRVFI_THREADS="1", **env)
    if chain is not None:
        variables["APRVFI_CHAIN"] = str(chain)
    done = subprocess.run(
        ["bash", str(ROOT / "benchmarks/gpu_leg.sh"), str(out), "1"], env=variables, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert (out / "leg.log").read_text() == done.stdout  # everything it printed is kept
    return json.loads((out / "summary.json").read_text())


@pytest.fixture(scope="module")
def pack(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("leg")
    cache, clips = tiny_sources(root)
    build_pack(cache, [clips], root / "pack", settings=PackSettings(max_side=96, crf=16))
    return root / "pack"


def test_two_dry_run_legs_form_one_chain(pack: Path, tmp_path: Path) -> None:
    first = leg(tmp_path / "one", pack)
    assert first["dry_run"] and first["environment"]["device"].startswith("cpu")
    assert "exit_code" in first["tests"] and {row["mode"] for row in first["timings"]} >= {"flow-only", "static", "apr"}
    report = first["leg"]
    profiled = report["profile"]["steps"] + 1  # the new code's first leg profiles a step after a warm one
    assert (report["start_step"], report["end_step"]) == (0, 2 + profiled) and report["samples_per_s"] > 0
    assert "self_cpu_time_total" == report["profile"]["sorted_by"] and "aten::" in report["profile"]["table"]
    assert report["data"]["train_triplets"] > 0 and report["dev"]["dev_triplets"] == report["data"]["dev_triplets"]
    chain = tmp_path / "one" / "chain"
    assert {p.name for p in chain.iterdir()} == set(CHAIN_FILES)
    assert max(p.stat().st_size for p in chain.iterdir()) < 16e6
    assert len(list((tmp_path / "one").rglob("*"))) <= 9  # what a lent machine sends back: 8 files at most

    # the second leg continues the chain; its code is unchanged, so tests and timings are skipped
    second = leg(tmp_path / "two", pack, chain=chain)
    assert "skipped" in second["tests"] and "skipped" in second["timings"]
    end = report["end_step"] + 2
    assert (second["leg"]["start_step"], second["leg"]["end_step"]) == (report["end_step"], end)
    assert second["leg"]["profile"] is None
    assert load_checkpoint(tmp_path / "two" / "chain")["progress"].global_step == end
    log = [json.loads(line) for line in (tmp_path / "two" / "chain" / "log.jsonl").read_text().splitlines()]
    assert [r["end_step"] for r in log if r["event"] == "leg"] == [report["end_step"], end]

    # the chain's weights (the moving average) score through the convert path like any weights file
    weights = tmp_path / "chain.pt"
    done = subprocess.run(
        ["python3", str(ROOT / "benchmarks/chain_weights.py"), str(tmp_path / "two" / "chain"), str(weights)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    model, origin = resolve_weights(weights)
    assert origin.method == "model" and model.config.name == "tiny"
    assert read_weights(weights)["metadata"]["progress"]["global_step"] == end
