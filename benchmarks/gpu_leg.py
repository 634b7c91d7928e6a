"""One GPU leg, every step in one process: environment, CUDA tests, timings, training, dev score.

Run through ``benchmarks/gpu_leg.sh OUT [MINUTES]`` (which sets the paths and keeps the log).
Everything it writes goes under OUT, within what a lent machine sends back (at most 8 files, 16 MB
each): ``summary.json``, the new chain head in ``chain/`` and the shell's ``leg.log``.

Environment:
    APRVFI_DEVICE   cuda (default) or cpu: cpu runs every step at tiny sizes (the dry run the tests use).
    APRVFI_CHAIN    the chain head to continue (default: ``chain/`` on a GPU, a new chain in a dry run).
    APRVFI_PACK     the training pack (default ``pack/``).
    APRVFI_LEG_STEPS  stop training after so many steps (a dry run's budget; default: the time limit).
    APRVFI_LEG_TESTS, APRVFI_LEG_TIMINGS  always | never | changed (default): run the CUDA tests, the
                    timings, when the code changed since the chain's last leg (a leg without them trains
                    about three minutes longer).
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import subprocess
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

import torch

from aprvfi_cli.eval.speed import measure
from aprvfi_cli.model import ModelConfig, Routing
from aprvfi_cli.model.weights import flow_only_model
from aprvfi_cli.placement import resolve_placement
from aprvfi_cli.train.leg import chain_config, export_chain_head, read_log, run_leg

ROOT = Path(__file__).resolve().parent.parent
GPU_SIZES = ((1920, 1080), (2048, 1080), (3840, 2160))
DRY_SIZES = ((160, 96),)


def log(line: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {line}", flush=True)


def code_hash() -> str:
    """SHA-256 over the package's and the CUDA tests' sources: a new hash means the CUDA tests run again."""
    digest = hashlib.sha256()
    for path in sorted([*ROOT.glob("aprvfi_cli/**/*.py"), ROOT / "tests" / "test_cuda.py"]):
        if path.is_file():
            digest.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def last_leg(chain: Path | None) -> dict:
    legs = read_log(chain / "log.jsonl", "leg") if chain else []
    return legs[-1] if legs else {}


def environment(placement) -> dict:
    info = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "device": placement.describe(),
        "cuda": torch.version.cuda,
        "code_sha256": code_hash(),
    }
    if placement.device.type == "cuda":
        props = torch.cuda.get_device_properties(placement.device)
        info.update(
            gpu=props.name, gpu_memory_gib=round(props.total_memory / 2**30, 1), sms=props.multi_processor_count
        )
        try:
            info["nvidia_smi"] = subprocess.run(
                ["nvidia-smi", "--query-gpu=name,driver_version,clocks.max.sm", "--format=csv,noheader"],
                capture_output=True,
                text=True,
                timeout=20,
            ).stdout.strip()
        except (OSError, subprocess.TimeoutExpired) as error:
            info["nvidia_smi"] = f"unavailable: {error}"
    return info


def cuda_tests(*, timeout_s: float) -> dict:
    """The suite's CUDA tests (they skip where there is no CUDA, as in a dry run)."""
    started = time.monotonic()
    command = [sys.executable, "-m", "pytest", "-q", "-m", "cuda", "-p", "no:cacheprovider", "tests/test_cuda.py"]
    try:
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=timeout_s)
        output, code = done.stdout + done.stderr, done.returncode
    except subprocess.TimeoutExpired as error:
        output, code = f"timed out after {timeout_s:.0f} s\n{error.stdout or ''}", -1
    tail = output.strip().splitlines()[-1] if output.strip() else ""
    log(f"cuda tests: exit {code}: {tail}")
    return {
        "exit_code": code,
        "summary": tail,
        "output": output[-6000:],
        "seconds": round(time.monotonic() - started, 1),
    }


def timings(placement, *, dry: bool) -> list[dict]:
    """Flow-only, static and APR per pair at 1080p, the paper's 2K and 4K, with peak memory; at 2K in both
    memory layouts (the leg trains in channels_last)."""
    model = flow_only_model(ModelConfig.tiny() if dry else None)
    routing = Routing(mode="keep", keep_ratios=model.config.keep_ratios)
    rows = []
    contiguous = replace(placement, memory_format=torch.contiguous_format)
    for width, height in DRY_SIZES if dry else GPU_SIZES:
        for layout in [placement, contiguous] if (width, height) == (2048, 1080) else [placement]:
            placed = layout.to(model).eval()
            result = measure(
                placed, width=width, height=height, placement=layout, repeats=1 if dry else 3, routing_apr=routing
            )
            for mode in result.modes:
                rows.append({"size": f"{width}x{height}", "layout": _layout(layout), **asdict(mode)})
            times = {m.mode: m.time_s for m in result.modes}
            log(
                f"timing {width}x{height} {_layout(layout)}: flow-only {times['flow-only']:.4f} s, "
                f"static {times['static']:.4f} s, APR {times['apr']:.4f} s"
            )
    return rows


def _layout(placement) -> str:
    return "channels_last" if placement.channels_last else "contiguous"


def main() -> int:
    out, minutes = Path(sys.argv[1]), float(sys.argv[2]) if len(sys.argv) > 2 else 9.0
    started = time.monotonic()
    deadline = started + minutes * 60
    dry = os.environ.get("APRVFI_DEVICE", "cuda") == "cpu"
    out.mkdir(parents=True, exist_ok=True)
    placement = resolve_placement("cpu" if dry else "cuda", "auto", None)
    if not dry:  # channels_last: cuDNN's bf16 tensor-core convolutions read NHWC
        placement = replace(placement, memory_format=torch.channels_last)
    chain_env = os.environ.get("APRVFI_CHAIN")
    chain = Path(chain_env) if chain_env else (None if dry else ROOT / "chain")
    chain = chain if chain is not None and (chain / "state.pt").is_file() else None
    pack = Path(os.environ.get("APRVFI_PACK", ROOT / "pack"))
    summary: dict = {"started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "dry_run": dry, "minutes": minutes}
    summary["environment"] = environment(placement)
    log(f"environment: {json.dumps(summary['environment'])}")
    changed = last_leg(chain).get("code_sha256") != summary["environment"]["code_sha256"]
    steps = {"tests": lambda: cuda_tests(timeout_s=120), "timings": lambda: timings(placement, dry=dry)}
    for step, run in steps.items():
        policy = os.environ.get(f"APRVFI_LEG_{step.upper()}", "changed")
        if policy == "always" or (policy == "changed" and changed):
            summary[step] = run()
        else:
            state = "changed" if changed else "unchanged"
            summary[step] = {"skipped": f"policy {policy}; the code is {state} since the chain's last leg"}
        _write(out, summary)
    # the tiny preset in a dry run: every step runs, at a size two CPU cores finish in seconds
    config = chain_config(str(pack), preset="tiny" if dry else "paper", scale=0.001 if dry else 1.0)
    if dry:
        config = replace(
            config,
            stages=tuple(replace(s, batch_size=4, crop=32) for s in config.stages),
            pack=replace(config.pack, max_clips=3, max_triplets_per_clip=1),
        )
    work = Path(os.environ.get("APRVFI_LEG_WORK", "/tmp/aprvfi-leg")) / time.strftime("%Y%m%d-%H%M%S")
    max_steps = os.environ.get("APRVFI_LEG_STEPS")
    margin = 20 if dry else 40  # seconds left for the export and the shell after training and scoring
    _, report = run_leg(
        chain=chain,
        pack_root=pack,
        work=work,
        placement=placement,
        seconds=deadline - margin - time.monotonic(),
        new_config=config,
        max_steps=int(max_steps) if max_steps else None,
        profile=0 if "skipped" in summary["timings"] else 1 if dry else 8,  # where the code is new, as timed
        note={"code_sha256": summary["environment"]["code_sha256"], "dry_run": dry},
        log=log,
    )
    export_chain_head(work, out / "chain")
    summary["leg"] = asdict(report)
    summary["seconds"] = round(time.monotonic() - started, 1)
    _write(out, summary)
    log(
        f"leg: steps {report.start_step} -> {report.end_step} (stage {report.stage}), "
        f"{report.samples_per_s} samples/s, {report.megapixels_per_s} Mpx/s, "
        f"paper stage 2 in {report.paper_stage2_minutes} min at this rate; "
        f"dev gain {report.dev.get('dev_static_gain')} [{report.dev.get('dev_static_gain_low')}, "
        f"{report.dev.get('dev_static_gain_high')}] dB over flow-only"
    )
    return 0


def _write(out: Path, summary: dict) -> None:
    (out / "summary.json").write_text(json.dumps(summary, indent=1, default=str))


if __name__ == "__main__":
    sys.exit(main())
