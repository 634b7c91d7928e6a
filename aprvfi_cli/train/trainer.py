"""The paper's three-stage curriculum (§3.3), with exact resume, JSON-lines log and validation.

Stage 1: the static model on whole crops, flow trainable (from EBME's weights).
Stage 2: flow frozen; static synthesis (+ context) on 64 x 64 crops.
Stage 3: flow frozen; context, synthesis and router, routed by straight-through Gumbel-softmax,
         the router also pulled toward the reference route map.
Each stage has its own AdamW and warm-up + cosine schedule. The device is chosen here, at the
edge; on CUDA the forward pass runs under bf16 autocast.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import time
from collections.abc import Iterable, Iterator
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import torch
from torch import nn
from tqdm import tqdm

from aprvfi_cli.data.store import Store
from aprvfi_cli.eval.devset import DevBatch, DevReport, score_dev, store_dev_batches
from aprvfi_cli.model import APRVFI, ModelConfig, Routing
from aprvfi_cli.model.weights import ebme_flow_weights, read_weights, resolve_weights, save_weights
from aprvfi_cli.placement import Placement
from aprvfi_cli.train.checkpoint import Progress, load_checkpoint, save_checkpoint, set_rng_state
from aprvfi_cli.train.config import StageConfig, TrainConfig, stage_data
from aprvfi_cli.train.dataset import Material, Sample, StepBatches, validation_samples
from aprvfi_cli.train.losses import LossTerms, total_loss
from aprvfi_cli.train.reference_routes import patch_difficulty, reference_route_map
from aprvfi_cli.train.resident import ResidentBatches, ResidentData
from aprvfi_cli.train.schedule import apply_lr
from aprvfi_cli.train.selection import BestDev, best_weights_path, weight_average
from aprvfi_cli.train.store_crops import StoreBatches
from aprvfi_cli.train.validation import score_samples


class Trainer:
    """Runs the configured stages; ``run()`` resumes wherever the progress stands."""

    def __init__(
        self,
        config: TrainConfig,
        *,
        run_dir: str | Path,
        material: Material | None,
        resident: ResidentData | None = None,
        placement: Placement | None = None,
        resume: str | Path | None = None,
        progress_bar: bool = True,
    ):
        self.config, self.material, self.resident = config, material, resident
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.placement = placement or Placement.cpu()
        self.device = self.placement.device
        self.progress_bar = progress_bar
        if self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True  # fixed crop sizes: let cuDNN pick the fastest kernels
        self.model = self.placement.to(self._initial_model())
        self.progress = Progress(stage_index=0, step=0, global_step=0, elapsed_s=0.0)
        self.optimizer = self._optimizer(self.stage)
        self.average = weight_average(self.model, config.ema_decay)
        self.best = BestDev()
        if resume is not None:
            checkpoint = load_checkpoint(resume)
            self.progress = checkpoint["progress"]
            self.model.load_state_dict(checkpoint["model"])
            self.optimizer = self._optimizer(self.stage)
            self.optimizer.load_state_dict(checkpoint["optimizer"])
            set_rng_state(checkpoint["rng"])
            extra = checkpoint["extra"]
            if self.average is not None and "average" in extra:
                self.average.load_state_dict(extra["average"])
            if "best" in extra:
                self.best = BestDev.from_dict(extra["best"])
            self.log({"event": "resume", "from": checkpoint["folder"]})
        self._validation: list[Sample] | None = None
        self._baseline: dict[str, float] | None = None

    # -- setup -------------------------------------------------------------------------------
    def _initial_model(self) -> APRVFI:
        init = self.config.init
        config = ModelConfig.preset(self.config.preset)
        if init == "none":
            return APRVFI(config)
        if init == "ebme":
            return resolve_weights(ebme_flow_weights(), config=config)[0]
        # "shipped": what convert runs by default (aprvfi-default.pt, else the EBME flow), with a fresh optimizer
        return resolve_weights(None if init == "shipped" else init, config=config)[0]

    @property
    def evaluated(self) -> APRVFI:
        """The weights validated and saved: the moving average when the run keeps one."""
        return self.average.module if self.average is not None else self.model

    @property
    def stage(self) -> StageConfig:
        return self.config.stages[min(self.progress.stage_index, len(self.config.stages) - 1)]

    def _optimizer(self, stage: StageConfig) -> torch.optim.AdamW:
        """AdamW over the modules the stage trains; the others are frozen (requires_grad False)."""
        trained: list[nn.Module] = [self.model.context, self.model.synthesis]
        if stage.trains_flow:
            trained.append(self.model.flow)
        if stage.routed:
            trained.append(self.model.router)
        for parameter in self.model.parameters():
            parameter.requires_grad_(False)
        parameters = [p for module in trained for p in module.parameters()]
        for parameter in parameters:
            parameter.requires_grad_(True)
        return torch.optim.AdamW(
            parameters, lr=stage.schedule().lr(0), betas=self.config.betas, weight_decay=self.config.weight_decay
        )

    def _autocast(self) -> contextlib.AbstractContextManager:
        return self.placement.autocast()

    # -- one step ----------------------------------------------------------------------------
    def loss(self, batch: dict[str, torch.Tensor], stage: StageConfig) -> LossTerms:
        """The stage's loss on a batch (frame0, truth, frame1 (B, 3, H, W), t (B,))."""
        batch = {k: self.placement.to(v) for k, v in batch.items()}
        routing = Routing(mode="gumbel", tau=self.config.gumbel_tau) if stage.routed else Routing(mode="static")
        with self._autocast():
            pair = self.model.estimate(batch["frame0"], batch["frame1"], flow=batch.get("flow"))
            out = self.model.synthesize(pair, batch["t"], routing=routing, channels_last=self.placement.channels_last)
        reference = None
        if stage.routed:
            warped = out.warped
            difficulty = patch_difficulty(
                warped.image0, warped.image1, warped.hole0, warped.hole1, patch_size=self.model.config.patch_size
            )
            reference = reference_route_map(difficulty, self.model.config.keep_ratios, rank_over=stage.rank_over)
        height, width = out.frame.shape[-2:]
        return total_loss(
            out.frame,
            batch["truth"],
            weights=self.config.loss,
            route_logits=out.route_logits if stage.routed else None,
            reference=reference,
            baseline=out.warped.blend()[..., :height, :width] if self.config.loss.harm > 0 else None,
        )

    def train_step(self, batch: dict[str, torch.Tensor]) -> LossTerms:
        """One optimisation step at the current progress; advances the progress."""
        stage = self.stage
        self.model.train()
        apply_lr(self.optimizer, stage.schedule().lr(self.progress.step))
        self.optimizer.zero_grad(set_to_none=True)
        terms = self.loss(batch, stage)
        terms.total.backward()
        self.optimizer.step()
        if self.average is not None:
            self.average.update_parameters(self.model)
        self.progress = replace(self.progress, step=self.progress.step + 1, global_step=self.progress.global_step + 1)
        return terms

    def batches(self, stage: StageConfig, start: int) -> Iterator[dict[str, torch.Tensor]]:
        """The stage's batches from step ``start`` on: drawn on the device for resident data, else prefetched
        by loader processes (``workers``)."""
        sampled = {
            "crop": stage.crop,
            "batch_size": stage.batch_size,
            "seed": self.config.data.seed,
            "stream": stage.stage,
        }
        if self.resident is not None:
            dataset = ResidentBatches(self.resident.train, self.config.pack, **sampled)
        elif self.config.store is not None:
            dataset = StoreBatches(self.config.store, **sampled)
        else:
            dataset = StepBatches(self.material, stage_data(self.config, stage), stream=stage.stage)
        if self.resident is not None or self.config.workers <= 0:  # resident batches are on the device already
            return (dataset[step] for step in range(start, stage.steps))
        loader = torch.utils.data.DataLoader(
            dataset,
            batch_size=None,
            sampler=range(start, stage.steps),
            num_workers=self.config.workers,
            pin_memory=self.device.type == "cuda",
            prefetch_factor=4,
        )
        return iter(loader)

    # -- the loop ----------------------------------------------------------------------------
    def run(self, *, max_steps: int | None = None, max_seconds: float | None = None) -> Progress:
        """Train until every stage is done, or ``max_steps`` more steps, or ``max_seconds`` of wall
        time (then a checkpoint is written: a time-boxed session resumes from it)."""
        done = 0
        last_save = started_run = time.monotonic()
        while self.progress.stage_index < len(self.config.stages):
            stage = self.stage
            if self.progress.step >= stage.steps:
                self._next_stage()
                continue
            bar = tqdm(
                total=stage.steps,
                initial=self.progress.step,
                desc=f"stage {stage.stage}",
                disable=not self.progress_bar,
                dynamic_ncols=True,
            )
            window_start, window_samples = time.monotonic(), 0
            for batch in self.batches(stage, self.progress.step):
                started = time.monotonic()
                terms = self.train_step(batch)
                self.progress = replace(self.progress, elapsed_s=self.progress.elapsed_s + time.monotonic() - started)
                done += 1
                window_samples += stage.batch_size
                bar.update(1)
                if self.progress_bar:  # reading the loss waits for the device: only for a bar someone watches
                    bar.set_postfix(loss=f"{terms.total.item():.4f}")
                step = self.progress.step
                if step % self.config.log_every == 0 or step == stage.steps:
                    now = time.monotonic()
                    self.log(
                        {
                            "event": "step",
                            "loss": terms.total.item(),
                            "charbonnier": terms.reconstruction.item(),
                            "census": terms.census.item(),
                            "route": terms.route.item(),
                            "harm": terms.harm.item(),
                            "lr": self.optimizer.param_groups[0]["lr"],
                            "samples_per_s": window_samples / max(now - window_start, 1e-9),
                        }
                    )
                    window_start, window_samples = now, 0
                if self.config.validate_every and step % self.config.validate_every == 0:
                    self.validate()
                    if self.config.patience and self.best.stale >= self.config.patience:
                        self.log({"event": "early_stop", "best_step": self.best.step, "best_gain": self.best.gain})
                        break
                if time.monotonic() - last_save >= self.config.checkpoint_every_s:
                    self.save()
                    last_save = time.monotonic()
                if max_steps is not None and done >= max_steps:
                    bar.close()
                    return self.progress
                if max_seconds is not None and time.monotonic() - started_run >= max_seconds:
                    bar.close()
                    self.validate()
                    self.save()
                    return self.progress
            bar.close()
            if not (self.config.validate_every and self.progress.step % self.config.validate_every == 0):
                self.validate()  # else the last step has just been validated
            self.save()
            last_save = time.monotonic()
            self._next_stage()
        self.finish()
        return self.progress

    def _next_stage(self) -> None:
        best = best_weights_path(self.run_dir, self.stage.stage)
        self.progress = replace(self.progress, stage_index=self.progress.stage_index + 1, step=0)
        if self.progress.stage_index < len(self.config.stages):
            if best.is_file():  # the next stage builds on the stage's best weights, not its last
                state = read_weights(best)["state_dict"]
                self.model.load_state_dict(state)
                if self.average is not None:
                    self.average.module.load_state_dict(state)
            self.optimizer = self._optimizer(self.stage)
            self.best = BestDev()
            self.log({"event": "stage", "stage": self.stage.stage, "from": str(best) if best.is_file() else "last"})

    # -- validation, checkpoints, log --------------------------------------------------------
    @torch.no_grad()
    def validate(self) -> dict[str, Any]:
        """Mean PSNR (8-bit RGB) on the validation triplets: static, and APR once routing is trained;
        the flow-only floor beside them (what the untrained model gives). With a store: the dev set's
        paired gain over flow-only, with its 95% interval and the worst clip's gain."""
        if self.config.store is not None or self.resident is not None:
            return self.validate_dev()
        if self._validation is None:
            self._validation = validation_samples(
                self.material,
                self.config.data,
                synthetic=self.config.validation_synthetic,
                clips=self.config.validation_clips,
            )
        means = score_samples(
            self.evaluated,
            self._validation,
            placement=self.placement,
            routed=self.stage.routed,
            flow_only=self._baseline is None,
        )
        if self._baseline is None:  # scored once: the floor every later validation is logged beside
            self._baseline = {"flow_only_psnr": means.pop("flow_only_psnr")}
        result: dict[str, Any] = {
            "event": "validation",
            "triplets": len(self._validation),
            "static_psnr": means.pop("static_psnr"),
            **self._baseline,
            **means,
        }
        self.log(result)
        return result

    def score_dev(self, batches: Iterable[DevBatch], routings: dict[str, Routing]) -> DevReport:
        """Score dev batches with the weights validated (the moving average when kept)."""
        # whole frames and APR's varying patch counts: every new shape would be autotuned anew
        with torch.backends.cudnn.flags(enabled=True, benchmark=False):
            return score_dev(self.evaluated, batches, routings=routings, placement=self.placement)

    def validate_dev(self, *, per_clip: int | None | str = "config") -> dict[str, Any]:
        """Score the dev set (the resident one, else the store's: ``per_clip`` triplets per clip, default the
        config's) and log it."""
        routings = {"static": Routing(mode="static")}
        if self.stage.routed:
            routings["apr"] = Routing(mode="apr")
        if self.resident is not None:
            batches = self.resident.dev.dev_batches()
        else:
            batches = store_dev_batches(
                Store(self.config.store.store),
                placement=self.placement,
                limit_per_group=self.config.dev_per_clip if per_clip == "config" else per_clip,
            )
        result = {"event": "validation", **self.score_dev(batches, routings).summary()}
        method = "apr" if self.stage.routed else "static"
        if self.best.consider(
            gain=result[f"dev_{method}_gain"],
            worst_clip_gain=result[f"dev_{method}_worst_clip_gain"],
            step=self.progress.step,
            worst_clip_floor=self.config.worst_clip_floor,
        ):
            path = best_weights_path(self.run_dir, self.stage.stage)
            save_weights(path, self.evaluated, {**self.model_card(), "dev": result})
            result["best"] = str(path)
        self.log(result)
        return result

    def save(self) -> Path:
        """Checkpoint now, and refresh ``aprvfi-latest.pt`` (plain weights, for ``aprvfi eval``)."""
        progress = self.progress
        folder = self.run_dir / "checkpoints" / f"stage{self.stage.stage}-step{progress.step:08d}"
        dtype = torch.bfloat16 if self.config.moments_dtype == "bfloat16" else torch.float32
        save_checkpoint(
            folder,
            model=self.model,
            optimizer=self.optimizer,
            progress=progress,
            config=self.config.to_dict(),
            moments_dtype=dtype,
            extra={"best": self.best.to_dict()},
            extra_files={"average": self.average.state_dict()} if self.average is not None else None,
        )
        save_weights(self.run_dir / "aprvfi-latest.pt", self.evaluated, self.model_card())
        # older checkpoints go: a run folder must stay small enough to carry between machines
        older = sorted(
            (p for p in folder.parent.iterdir() if p.is_dir() and p != folder and p.name.startswith("stage")),
            key=lambda p: p.stat().st_mtime,
        )
        for stale in older[: max(len(older) - max(self.config.keep_checkpoints - 1, 0), 0)]:
            shutil.rmtree(stale, ignore_errors=True)
        self.log({"event": "checkpoint", "path": str(folder)})
        return folder

    def finish(self) -> Path:
        path = self.run_dir / "aprvfi.pt"
        save_weights(path, self.evaluated, self.model_card())
        self.log({"event": "done", "weights": str(path)})
        return path

    def model_card(self) -> dict[str, Any]:
        return {
            "trained_by": "aprvfi train",
            "progress": asdict(self.progress),
            "config": self.config.to_dict(),
            "device": str(self.device),
            "torch": str(torch.__version__),
            "device_name": torch.cuda.get_device_name(self.device) if self.device.type == "cuda" else "cpu",
        }

    def log(self, record: dict[str, Any]) -> None:
        record = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "stage": self.stage.stage,
            "step": self.progress.step,
            "global_step": self.progress.global_step,
            "train_s": round(self.progress.elapsed_s, 2),
            **record,
        }
        with open(self.run_dir / "log.jsonl", "a") as handle:
            handle.write(json.dumps(record) + "\n")
