"""One leg of a training run that moves from machine to machine: resume the chain head, hold the
training pack on the device, train until a deadline, score the dev set, hand back the new chain head.

A lent GPU comes for minutes, by chance, with no network and a small baggage allowance, so a run is
a chain of legs. The *chain head* is a checkpoint folder kept in the repository (``chain/``): the
weights, their moving average, bf16 Adam moments, the progress (stage, step, the schedule's
position) and the run's frozen config, plus ``log.jsonl`` with every leg's record. Each leg picks
up exactly where the last one stopped, so all legs draw one learning curve.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from aprvfi_cli.data.pack import Pack
from aprvfi_cli.data.triplets import spread
from aprvfi_cli.model import APRVFI, ModelConfig, Routing
from aprvfi_cli.model.weights import flow_only_model
from aprvfi_cli.placement import Placement
from aprvfi_cli.train.checkpoint import load_checkpoint, resolve_checkpoint
from aprvfi_cli.train.config import StageConfig, TrainConfig
from aprvfi_cli.train.losses import LossWeights
from aprvfi_cli.train.resident import ClipTriplets, ResidentData, ResidentSampling, ResidentTriplets
from aprvfi_cli.train.trainer import Trainer

# The files of a chain head; every one stays under the 16 MB a lent machine sends back per file.
CHAIN_FILES = ("state.pt", "exp_avg.pt", "exp_avg_sq.pt", "average.pt", "log.jsonl")
SPLITS = ("train", "dev")
# Pixels the paper's stage 2 trains on: 200k steps x 32 crops of 64 x 64.
PAPER_STAGE2_MEGAPIXELS = 200_000 * 32 * 64 * 64 / 1e6


def chain_config(pack: str, *, preset: str = "paper", scale: float = 1.0) -> TrainConfig:
    """The run a new chain starts (stages 2 then 3 on the frozen EBME flow), frozen into its head.

    Stage 2 sees the paper's 6.4 million 64-px crops, in batches of 256 (the paper's 32 leave an H100
    idle; the rate is scaled by the square root of the batch). Stage 3 trains the router on 128-px
    crops ranked over the batch (a crop holds only 4 patches). The loss adds the harm term (weight 3),
    and the weights kept are a moving average: the recipe whose CPU runs first kept every dev clip at
    or above flow-only. ``scale`` shrinks the step counts (a dry run).
    """
    steps = max(1, round(25_000 * scale)), max(1, round(20_000 * scale))
    warmup = max(1, round(1_000 * scale))
    return TrainConfig(
        preset=preset,
        stages=(
            StageConfig(2, steps[0], 64, 256, peak_lr=5.6e-4, final_lr=2e-5, warmup_steps=warmup, rank_over="batch"),
            StageConfig(3, steps[1], 128, 64, peak_lr=2e-4, final_lr=1e-5, warmup_steps=warmup, rank_over="batch"),
        ),
        loss=LossWeights(harm=3.0),
        init="ebme",
        checkpoint_every_s=120.0,
        validate_every=0,
        log_every=50,
        moments_dtype="bfloat16",
        workers=0,
        keep_checkpoints=1,
        pack=ResidentSampling(pack=pack),
        dev_per_clip=None,
        ema_decay=0.999,
    )


def pack_clips(
    pack: Pack, *, max_clips: int | None = None, max_per_clip: int | None = None, threads: int = 8
) -> tuple[list[ClipTriplets], list[ClipTriplets]]:
    """(train, dev) clips of the pack's present files (at most ``max_clips``), each decoded once, holding
    only the frames its kept triplets use (at most ``max_per_clip`` per clip and split, evenly spread).

    Clips decode in parallel threads (the decoders release the GIL).
    """
    chosen = []
    for clip in spread(pack.present(), max_clips):
        parts = {split: _kept(getattr(clip, split), getattr(clip, f"{split}_t"), max_per_clip) for split in SPLITS}
        if any(len(triplets) for triplets, _ in parts.values()):
            chosen.append((clip, parts))
    clips, kept = [clip for clip, _ in chosen], [parts for _, parts in chosen]
    pack.verify(clips)
    used = [np.unique(np.concatenate([t.reshape(-1) for t, _ in parts.values()])) for parts in kept]
    with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
        decoded = list(pool.map(pack.decode, clips, used))
    out: dict[str, list[ClipTriplets]] = {split: [] for split in SPLITS}
    for clip, parts, indices, frames in zip(clips, kept, used, decoded, strict=True):
        for split, (triplets, times) in parts.items():
            if len(triplets):
                local = np.searchsorted(indices, triplets)
                own = np.unique(local)
                out[split].append(
                    ClipTriplets(
                        name=clip.name,
                        frames=frames[own],
                        triplets=np.searchsorted(own, local),
                        t=times,
                        synthetic=clip.synthetic,
                    )
                )
    return out["train"], out["dev"]


def _kept(triplets: np.ndarray, times: np.ndarray, limit: int | None) -> tuple[np.ndarray, np.ndarray]:
    keep = spread(list(range(len(triplets))), limit)
    return np.asarray(triplets, dtype=np.int64)[keep].reshape(-1, 3), np.asarray(times, dtype=np.float32)[keep]


@dataclass(frozen=True)
class LegReport:
    """What one leg did (the JSON summary's ``leg`` entry).

    Attributes:
        start_step, end_step: the chain's global step before and after.
        stage: the stage the leg ended in; crop and batch_size are that stage's.
        train_s: seconds spent in training steps (without data, flow and dev scoring).
        samples_per_s, megapixels_per_s: training throughput over the leg.
        paper_stage2_minutes: how long the paper's stage 2 (200k steps x 32 x 64 x 64 px) takes at this rate.
        data: triplets, resident bytes, decode and flow seconds.
        dev: the end-of-leg dev score (the trainer's validation record).
        profile: the profiled steps' table (:func:`profile_steps`), when asked for.
    """

    start_step: int
    end_step: int
    stage: int
    crop: int
    batch_size: int
    train_s: float
    samples_per_s: float
    megapixels_per_s: float
    paper_stage2_minutes: float | None
    data: dict[str, Any]
    dev: dict[str, Any]
    profile: dict[str, Any] | None = None


def load_resident(
    pack: Pack, *, config: TrainConfig, placement: Placement, log: Callable[[str], None]
) -> tuple[ResidentData, dict[str, Any]]:
    """Decode the pack, upload it and compute every triplet's whole-frame flow on the device, with the
    flow network of the run's model preset (the frozen EBME weights, as inference runs them)."""
    started = time.monotonic()
    train, dev = pack_clips(pack, max_clips=config.pack.max_clips, max_per_clip=config.pack.max_triplets_per_clip)
    decoded = time.monotonic()
    flow_model = placement.to(flow_only_model(ModelConfig.preset(config.preset)))
    data = ResidentData(
        train=ResidentTriplets.build(train, model=flow_model, placement=placement),
        dev=ResidentTriplets.build(dev, model=flow_model, placement=placement),
    )
    del flow_model
    placement.synchronize()
    stats = {
        "clips": len({c.name for c in train + dev}),
        "train_triplets": len(data.train),
        "dev_triplets": len(data.dev),
        "resident_bytes": data.train.nbytes + data.dev.nbytes,
        "decode_s": round(decoded - started, 2),
        "flow_s": round(time.monotonic() - decoded, 2),
    }
    log(
        f"data: {stats['clips']} clips, {stats['train_triplets']} train and {stats['dev_triplets']} dev triplets, "
        f"{stats['resident_bytes'] / 2**30:.2f} GiB on {placement.device}; decode {stats['decode_s']} s, "
        f"flow {stats['flow_s']} s"
    )
    return data, stats


def run_leg(
    *,
    chain: Path | None,
    pack_root: Path,
    work: Path,
    placement: Placement,
    seconds: float,
    new_config: TrainConfig,
    max_steps: int | None = None,
    profile: int = 0,
    note: dict[str, Any] | None = None,
    log: Callable[[str], None] = print,
) -> tuple[Trainer, LegReport]:
    """Train one leg of the chain for about ``seconds`` of wall time (data loading and the final dev
    score included), leaving a checkpoint in ``work`` for :func:`export_chain_head`.

    Args:
        chain: the chain head to continue, or None to start ``new_config``'s run.
        pack_root: the training pack; it replaces the path the chain's config recorded.
        work: the leg's run folder (checkpoints, log).
        placement: device and precision, decided at the edge.
        seconds: the leg's wall-time budget from this call on.
        max_steps: stop after so many steps even with time left (a dry run).
        profile: first profile so many of the leg's steps, after one warm step (the report's ``profile``).
        note: more keys for the leg's record in the chain's log (e.g. the code's hash).
    """
    started = time.monotonic()
    work.mkdir(parents=True, exist_ok=True)
    config = new_config if chain is None else TrainConfig.from_dict(load_checkpoint(chain)["config"])
    config = replace(config, pack=replace(config.pack, pack=str(pack_root)))
    if chain is not None and (chain / "log.jsonl").is_file():
        shutil.copyfile(chain / "log.jsonl", work / "log.jsonl")  # the leg's lines continue the chain's log
    pack = Pack.open(pack_root)
    data, stats = load_resident(pack, config=config, placement=placement, log=log)
    trainer = Trainer(
        config, run_dir=work, material=None, resident=data, placement=placement, resume=chain, progress_bar=False
    )
    start_step = trainer.progress.global_step
    profiled = profile_steps(trainer, steps=profile) if profile else None
    if profiled:
        log(f"profile: {profiled['seconds_per_step']} s per step\n{profiled['table']}")
    reserve = _dev_seconds(trainer) * 1.5 + 5
    budget = seconds - (time.monotonic() - started) - reserve
    if budget <= 0:  # one step still runs: the chain moves on and every step of the leg is exercised
        log(f"warning: the leg's {seconds:.0f} s do not cover loading the data and scoring the dev set")
    log(f"training from global step {start_step} for {max(budget, 0):.0f} s (kept {reserve:.0f} s for the dev score)")
    run_start, trained_before = trainer.progress.global_step, trainer.progress.elapsed_s
    trainer.run(max_seconds=max(budget, 0.0), max_steps=max_steps)
    if max_steps is not None and trainer.progress.global_step - run_start >= max_steps:
        trainer.validate()  # a step budget returns without the time limit's validation and checkpoint
        trainer.save()
    stage = trainer.stage
    steps = trainer.progress.global_step - run_start  # the profiled steps are timed apart
    train_s = trainer.progress.elapsed_s - trained_before
    samples_per_s = steps * stage.batch_size / max(train_s, 1e-9)
    megapixels_per_s = samples_per_s * stage.crop**2 / 1e6
    report = LegReport(
        start_step=start_step,
        end_step=trainer.progress.global_step,
        stage=stage.stage,
        crop=stage.crop,
        batch_size=stage.batch_size,
        train_s=round(train_s, 2),
        samples_per_s=round(samples_per_s, 2),
        megapixels_per_s=round(megapixels_per_s, 3),
        paper_stage2_minutes=round(PAPER_STAGE2_MEGAPIXELS / megapixels_per_s / 60, 1) if steps else None,
        data=stats,
        dev=_last_validation(work / "log.jsonl"),
        profile=profiled,
    )
    record = {k: v for k, v in asdict(report).items() if k != "profile"}  # the table stays in the summary
    trainer.log({"event": "leg", **record, "device": placement.describe(), **(note or {})})
    return trainer, report


def _dev_seconds(trainer: Trainer) -> float:
    """Seconds the end-of-leg dev score will take: its first batch timed once warm, times the batches,
    plus the first (cold) call's extra for each frame size (kernel selection runs per shape)."""
    groups = trainer.resident.dev.groups
    batches = trainer.resident.dev.dev_batches()
    first = next(batches, None)
    if first is None:
        return 0.0
    count = 1 + sum(1 for _ in batches)
    routings = {"static": Routing(mode="static"), "apr": Routing(mode="apr")}
    timings = []
    for _ in range(2):
        trainer.placement.synchronize()
        started = time.monotonic()
        trainer.score_dev([first], routings)
        trainer.placement.synchronize()
        timings.append(time.monotonic() - started)
    trainer.model.train()
    return timings[1] * count + (timings[0] - timings[1]) * len(groups)


def profile_steps(trainer: Trainer, *, steps: int = 8, rows: int = 25) -> dict[str, Any]:
    """Run the next ``steps`` training steps (real steps of the chain) under torch's profiler: the
    ops that take the most device (else host) time, and the wall seconds per step, for tuning the
    step on the machine the leg ran on."""
    from torch.profiler import ProfilerActivity, profile

    device = trainer.placement.device
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    batches = trainer.batches(trainer.stage, trainer.progress.step)
    trainer.train_step(next(batches))  # warm: kernel selection is not the step's cost
    trainer.placement.synchronize()
    started = time.monotonic()
    with profile(activities=activities) as profiler:
        for _, batch in zip(range(steps), batches, strict=False):
            trainer.train_step(batch)
        trainer.placement.synchronize()
    seconds = (time.monotonic() - started) / steps
    key = "self_cuda_time_total" if device.type == "cuda" else "self_cpu_time_total"
    table = profiler.key_averages().table(sort_by=key, row_limit=rows, max_name_column_width=60)
    return {"steps": steps, "seconds_per_step": round(seconds, 4), "sorted_by": key, "table": table}


def read_log(path: Path, event: str) -> list[dict[str, Any]]:
    """The records of one ``event`` in a run's ``log.jsonl``, in order (none when there is no log)."""
    if not path.is_file():
        return []
    records = (json.loads(line) for line in path.read_text().splitlines() if line.strip())
    return [r for r in records if r.get("event") == event]


def _last_validation(log_path: Path) -> dict[str, Any]:
    return (read_log(log_path, "validation") or [{}])[-1]


def export_chain_head(work: Path, out: Path) -> Path:
    """Copy the leg's newest checkpoint and the chain's log into ``out`` (the new chain head)."""
    folder = resolve_checkpoint(work)
    out.mkdir(parents=True, exist_ok=True)
    for name in CHAIN_FILES:
        source = work / name if name == "log.jsonl" else folder / name
        if source.is_file():
            shutil.copyfile(source, out / name)
    return out


def chain_weights(chain: Path) -> tuple[APRVFI, dict[str, Any]]:
    """The weights a chain head offers (its moving average when the run keeps one) and a card for them:
    steps, samples seen, the legs with their devices and training seconds, and the last dev score."""
    checkpoint = load_checkpoint(chain)
    config = TrainConfig.from_dict(checkpoint["config"])
    model = APRVFI(ModelConfig.preset(config.preset))
    average = checkpoint["extra"].get("average")
    if average is not None:  # an AveragedModel's state: the module's under "module.", and its count
        average = {k.removeprefix("module."): v for k, v in average.items() if k.startswith("module.")}
    model.load_state_dict(average if average is not None else checkpoint["model"])
    log_path = chain / "log.jsonl"
    legs = read_log(log_path, "leg")
    card = {
        "trained_by": "aprvfi GPU legs (benchmarks/gpu_leg.sh)",
        "progress": asdict(checkpoint["progress"]),
        "config": checkpoint["config"],
        "weights": "moving average" if average is not None else "trained",
        "legs": [
            {k: r.get(k) for k in ("time", "device", "start_step", "end_step", "train_s", "samples_per_s")}
            for r in legs
        ],
        "train_minutes": round(sum(r.get("train_s", 0) for r in legs) / 60, 2),
        "dev": _last_validation(log_path),
    }
    return model, card
