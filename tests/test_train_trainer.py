"""Training on the tiny preset: a step lowers the loss, and resume is exact."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from aprvfi_cli.errors import UsageError
from aprvfi_cli.model.weights import save_weights
from aprvfi_cli.train.checkpoint import load_checkpoint
from aprvfi_cli.train.config import StageConfig, TrainConfig, stage_data
from aprvfi_cli.train.dataset import DataConfig, Material, StepBatches
from aprvfi_cli.train.schedule import LRSchedule
from aprvfi_cli.train.synthetic import SyntheticConfig
from aprvfi_cli.train.trainer import Trainer

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def material() -> Material:
    generator = torch.Generator().manual_seed(0)
    coarse = torch.rand(3, 3, 12, 12, generator=generator)
    return Material(photos=list(F.interpolate(coarse, size=(96, 96), mode="bicubic").clamp(0, 1)), clips=[])


def config(stage: int, *, lr: float = 2e-4) -> TrainConfig:
    return TrainConfig(
        preset="tiny",
        stages=(StageConfig(stage, steps=10, crop=32, batch_size=2, peak_lr=lr, warmup_steps=1),),
        data=DataConfig(synthetic=SyntheticConfig(layers=(1, 2))),
        init="none",
        workers=0,
        validate_every=0,
        log_every=1,
        checkpoint_every_s=1e9,
        validation_synthetic=2,
        validation_clips=0,
    )


def test_one_step_lowers_the_loss_on_a_fixed_batch(tmp_path: Path) -> None:
    torch.manual_seed(0)
    trainer = Trainer(config(2, lr=1e-5), run_dir=tmp_path, material=material(), progress_bar=False)
    batch = StepBatches(trainer.material, stage_data(trainer.config, trainer.stage))[0]
    with torch.no_grad():
        before = trainer.loss(batch, trainer.stage).total.item()
    trained = trainer.train_step(batch).total.item()
    with torch.no_grad():
        after = trainer.loss(batch, trainer.stage).total.item()
    assert trained == before  # the step's own loss is the loss before the update
    assert after < before
    # stage 2 freezes the flow and does not train the router
    assert not any(p.requires_grad for p in trainer.model.flow.parameters())
    assert not any(p.requires_grad for p in trainer.model.router.parameters())


def test_the_harm_term_measures_against_the_flow_only_frame(tmp_path: Path) -> None:
    torch.manual_seed(0)
    base = config(2, lr=1e-2)
    trainer = Trainer(
        replace(base, loss=replace(base.loss, harm=3.0)), run_dir=tmp_path, material=material(), progress_bar=False
    )
    batch = StepBatches(trainer.material, stage_data(trainer.config, trainer.stage))[0]
    with torch.no_grad():
        first = trainer.loss(batch, trainer.stage)
    assert first.harm.item() == pytest.approx(0.0, abs=1e-6)  # a zero head's frame is the flow-only frame
    for _ in range(3):
        trainer.train_step(batch)
    with torch.no_grad():
        later = trainer.loss(batch, trainer.stage)
    expected = later.reconstruction + 0.1 * later.census + 3.0 * later.harm
    assert later.total.item() == pytest.approx(expected.item(), rel=1e-6)


def test_resume_reproduces_the_next_step_exactly(tmp_path: Path) -> None:
    torch.manual_seed(0)
    first = Trainer(config(3), run_dir=tmp_path / "a", material=material(), progress_bar=False)
    first.run(max_steps=2)
    folder = first.save()
    batches = first.batches(first.stage, first.progress.step)
    batch = next(iter(batches))
    expected = first.train_step(batch)
    assert expected.route.item() > 0  # stage 3 trains the router against the reference map

    torch.manual_seed(123)  # a different global RNG: resume must restore the Gumbel noise's
    second = Trainer(config(3), run_dir=tmp_path / "b", material=material(), progress_bar=False, resume=folder)
    assert second.progress.step == 2
    batch = next(iter(second.batches(second.stage, second.progress.step)))
    got = second.train_step(batch)
    assert got.total.item() == expected.total.item()
    for a, b in zip(first.model.parameters(), second.model.parameters(), strict=True):
        assert torch.equal(a, b)
    # the log is JSON lines with losses, learning rate and throughput
    log = (tmp_path / "a" / "log.jsonl").read_text().splitlines()
    assert '"lr"' in log[0] and '"samples_per_s"' in log[0]


def test_checkpoint_files_of_the_paper_model_stay_under_16_mb(tmp_path: Path) -> None:
    stage = StageConfig(1, steps=4, crop=64, batch_size=1, warmup_steps=1)
    cfg = TrainConfig(
        preset="paper",
        stages=(stage,),
        init="none",
        workers=0,
        validate_every=0,
        checkpoint_every_s=1e9,
        data=DataConfig(synthetic=SyntheticConfig(layers=(1, 1))),
    )
    trainer = Trainer(cfg, run_dir=tmp_path, material=material(), progress_bar=False)
    trainer.run(max_steps=1)  # stage 1 trains everything: the largest optimizer state
    folder = trainer.save()
    sizes = {p.name: p.stat().st_size for p in folder.iterdir()}
    assert set(sizes) == {"state.pt", "exp_avg.pt", "exp_avg_sq.pt"}
    assert max(sizes.values()) < 16e6
    state = load_checkpoint(tmp_path)  # a run folder resolves to its latest checkpoint
    assert state["progress"].step == 1 and state["config"]["preset"] == "paper"
    assert (tmp_path / "aprvfi-latest.pt").is_file()


def test_schedule_warms_up_then_anneals() -> None:
    schedule = LRSchedule(total_steps=1000, warmup_steps=100)
    assert schedule.lr(0) == 2e-4 / 100
    assert abs(schedule.lr(99) - 2e-4) < 1e-12
    assert abs(schedule.lr(999) - 2e-5) < 1e-12
    values = [schedule.lr(s) for s in range(100, 1000)]
    assert all(a >= b for a, b in zip(values, values[1:], strict=False))


def test_only_the_newest_checkpoints_are_kept(tmp_path: Path) -> None:
    trainer = Trainer(replace(config(2), keep_checkpoints=2), run_dir=tmp_path, material=material(), progress_bar=False)
    names = []
    for _ in range(3):
        trainer.run(max_steps=1)
        names.append(trainer.save().name)
    kept = sorted(p.name for p in (tmp_path / "checkpoints").iterdir() if p.is_dir())
    assert kept == names[1:]
    assert (tmp_path / "checkpoints" / "latest").read_text().strip() == names[-1]


def test_init_goes_through_the_weights_resolver(tmp_path: Path) -> None:
    # --init takes what convert takes: an aprvfi weights file, the EBME flow file, or nothing that exists
    torch.manual_seed(0)
    source = Trainer(config(2), run_dir=tmp_path / "a", material=material(), progress_bar=False).model
    save_weights(tmp_path / "w.pt", source, {"note": "test"})
    resumed = Trainer(
        replace(config(2), init=str(tmp_path / "w.pt")), run_dir=tmp_path / "b", material=material(), progress_bar=False
    )
    for key, value in source.state_dict().items():
        assert torch.equal(resumed.model.state_dict()[key].cpu(), value.cpu())
    ebme = Trainer(replace(config(2), init="ebme"), run_dir=tmp_path / "c", material=material(), progress_bar=False)
    assert ebme.model.config.name == "tiny"
    with pytest.raises(UsageError, match="weights file not found"):
        Trainer(replace(config(2), init=str(tmp_path / "nope.pt")), run_dir=tmp_path / "d", material=material())
