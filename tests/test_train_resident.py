"""Training data resident on the device: whole-frame flow as inference computes it, batched
augmentation, error-weighted crops drawn there, and a trainer that trains, scores and resumes on it."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from aprvfi_cli.data.store import flow_and_error
from aprvfi_cli.model import ModelConfig
from aprvfi_cli.model.weights import flow_only_model
from aprvfi_cli.placement import Placement
from aprvfi_cli.train.augment import AugmentConfig, augment_batch_with_flow, augment_with_flow
from aprvfi_cli.train.checkpoint import load_checkpoint
from aprvfi_cli.train.leg import CHAIN_FILES, chain_config
from aprvfi_cli.train.resident import ClipTriplets, ResidentBatches, ResidentData, ResidentSampling, ResidentTriplets
from aprvfi_cli.train.trainer import Trainer

pytestmark = pytest.mark.usefixtures("one_torch_thread")
NO_AUGMENT = AugmentConfig(flip_horizontal=0, flip_vertical=0, rot90=False, temporal_swap=0, channel_shuffle=0)


def moving_clip(name: str, *, frames: int = 7, height: int = 64, width: int = 96, seed: int = 0) -> ClipTriplets:
    """A smooth random texture panning 2 px right and 1 px down per frame; triplets (k, k+1, k+2)."""
    rng = np.random.default_rng(seed)
    texture = torch.from_numpy(rng.random((1, 3, height // 8 + 8, width // 8 + 8))).float()
    texture = torch.nn.functional.interpolate(texture, scale_factor=8, mode="bicubic")[0].clamp(0, 1)
    images = [
        (texture[:, 40 - k : 40 - k + height, 40 - 2 * k : 40 - 2 * k + width] * 255).round() for k in range(frames)
    ]
    stack = torch.stack(images).permute(0, 2, 3, 1).to(torch.uint8).numpy()
    triplets = np.array([[k, k + 1, k + 2] for k in range(frames - 2)])
    return ClipTriplets(name=name, frames=stack, triplets=triplets, t=np.full(len(triplets), 0.5, dtype=np.float32))


@pytest.fixture(scope="module")
def resident() -> ResidentData:
    model = flow_only_model(ModelConfig.tiny())
    placement = Placement.cpu()
    train = [moving_clip("a"), moving_clip("b", height=48, width=80, seed=1)]
    dev = [moving_clip("a", frames=4, seed=2)]
    return ResidentData(
        train=ResidentTriplets.build(train, model=model, placement=placement, cell=16, batch=3),
        dev=ResidentTriplets.build(dev, model=model, placement=placement, cell=16),
    )


def test_batched_augmentation_turns_vectors_with_the_frames() -> None:
    """A single bright pixel moves by the flow; after any sample's augmentation it still does."""
    batch = 64
    frame0, truth, frame1 = (torch.zeros(batch, 3, 16, 16) for _ in range(3))
    frame0[:, :, 3, 5] = 1
    frame1[:, :, 9, 12] = 1  # dx = 7, dy = 6
    flow = torch.tensor([7.0, 6.0, -7.0, -6.0]).view(1, 4, 1, 1).expand(batch, 4, 16, 16)
    generator = torch.Generator().manual_seed(0)
    (a, _, b), turned, t = augment_batch_with_flow(
        (frame0, truth, frame1), flow, torch.full((batch,), 0.25), generator, AugmentConfig()
    )
    assert set(t.tolist()) == {0.25, 0.75}
    for i in range(batch):
        (ya, xa), (yb, xb) = (torch.nonzero(x[i, 0] > 0.5)[0].tolist() for x in (a, b))
        assert turned[i, :2, ya, xa].tolist() == [xb - xa, yb - ya]
        assert turned[i, 2:, yb, xb].tolist() == [xa - xb, ya - yb]


@pytest.mark.parametrize("transform", ["flip_horizontal", "flip_vertical", "temporal_swap"])
def test_batched_augmentation_equals_the_per_sample_one(transform: str) -> None:
    config = replace(NO_AUGMENT, **{transform: 1.0})
    frames = tuple(torch.rand(2, 3, 8, 8, generator=torch.Generator().manual_seed(k)) for k in range(3))
    flow, t = torch.randn(2, 4, 8, 8), torch.tensor([0.5, 0.3])
    batched, batched_flow, batched_t = augment_batch_with_flow(frames, flow, t, torch.Generator(), config)
    for i in range(2):
        single, single_flow, single_t = augment_with_flow(
            tuple(f[i] for f in frames), flow[i], float(t[i]), np.random.default_rng(0), config
        )
        for got, want in zip(batched, single, strict=True):
            assert torch.equal(got[i], want)
        assert torch.equal(batched_flow[i], single_flow) and batched_t[i].item() == pytest.approx(single_t)


def test_resident_flow_is_the_flow_inference_computes(resident: ResidentData) -> None:
    """The whole-frame flow and flow-only error per cell that the store computes through estimate()."""
    clip = moving_clip("a")
    group = next(g for g in resident.train.groups if g.size == (64, 96))
    a, b, c = clip.triplets[2]
    flow, error = flow_and_error(
        flow_only_model(ModelConfig.tiny()), clip.frames[a], clip.frames[b], clip.frames[c], 0.5, cell=16
    )
    # batched and channels_last as inference on the CPU runs it: equal up to the order of the sums
    assert (group.flow[2].float() - torch.from_numpy(flow).float()).abs().max() < 0.01
    assert torch.allclose(group.error[2], torch.from_numpy(error), rtol=1e-3, atol=1e-7)
    # the texture pans (+2, +1) px a frame, so (+4, +2) from input 0 to input 1, away from the borders
    assert group.flow[2, 0, 16:48, 16:80].float().mean().item() == pytest.approx(4, abs=0.3)
    assert group.flow[2, 3, 16:48, 16:80].float().mean().item() == pytest.approx(-2, abs=0.3)


def test_resident_batches_are_deterministic_windows_of_the_frames(resident: ResidentData) -> None:
    sampling = ResidentSampling(pack="unused", cell=16, augment=NO_AUGMENT)
    batches = ResidentBatches(resident.train, sampling, crop=32, batch_size=6, seed=0, stream=2)
    first, again, other = batches[5], batches[5], batches[6]
    assert all(torch.equal(first[k], again[k]) for k in first)
    assert not torch.equal(first["frame0"], other["frame0"])
    assert first["frame0"].shape == (6, 3, 32, 32) and first["flow"].shape == (6, 4, 32, 32)
    frames = [g.frames.float() / 255 for g in resident.train.groups]
    for crop in first["truth"]:  # every crop is a window of some frame
        windows = (f.unfold(2, 32, 1).unfold(3, 32, 1) for f in frames)
        assert any((w == crop[None, :, None, None]).flatten(-2).all(-1).all(1).any() for w in windows)


def test_crops_are_drawn_where_flow_only_fails(resident: ResidentData) -> None:
    """With no uniform share, every crop holds the one cell whose flow-only error is not zero."""
    data = ResidentTriplets([replace(g, error=torch.zeros_like(g.error)) for g in resident.train.groups], ["a", "b"])
    group = data.groups[0]
    group.error[3, 1, 4] = 1.0  # triplet 3, cell rows 16-31, columns 64-79
    marked = group.frames.clone()
    row = group.triplets[3, 1]
    marked[row, :, 16:32, 64:80] = 255  # a white cell in that triplet's truth marks where crops must land
    data.groups[0] = replace(group, frames=marked)
    sampling = ResidentSampling(pack="unused", cell=16, uniform_share=0.0, augment=NO_AUGMENT)
    batch = ResidentBatches(data, sampling, crop=32, batch_size=8, seed=1)[0]
    assert (batch["truth"] == 1).all(dim=1).flatten(1).sum(dim=1).min() >= 16 * 16


def _trainer(resident: ResidentData, run_dir, *, resume=None) -> Trainer:
    torch.manual_seed(0)  # a new run's context and synthesis start from torch's random initialisation
    config = chain_config("unused", preset="tiny", scale=0.0002)
    config = replace(
        config,
        stages=tuple(replace(s, batch_size=2, crop=32) for s in config.stages),
        pack=replace(config.pack, cell=16),
        moments_dtype="float32",
    )
    return Trainer(config, run_dir=run_dir, material=None, resident=resident, resume=resume, progress_bar=False)


def test_a_leg_trains_scores_the_dev_set_and_resumes_exactly(resident: ResidentData, tmp_path) -> None:
    straight = _trainer(resident, tmp_path / "straight")
    straight.run(max_steps=3)
    first = _trainer(resident, tmp_path / "legs")
    first.run(max_steps=2)
    first.save()
    second = _trainer(resident, tmp_path / "legs", resume=tmp_path / "legs")
    second.run(max_steps=1)
    for key, value in straight.model.state_dict().items():
        assert torch.equal(value, second.model.state_dict()[key]), key
    record = second.validate()
    assert record["dev_triplets"] == 2 and record["dev_static_gain_low"] <= record["dev_static_gain"]
    state = load_checkpoint(tmp_path / "legs")
    assert "average" in state["extra"] and state["progress"].global_step == 2


def test_a_paper_chain_head_fits_the_files_a_lent_machine_returns(tmp_path) -> None:
    """Every chain-head file of the paper model, with its moving average and bf16 moments, is under 16 MB."""
    model = flow_only_model()
    optimizer = torch.optim.AdamW([*model.context.parameters(), *model.synthesis.parameters()])
    for parameter in optimizer.param_groups[0]["params"]:
        parameter.grad = torch.zeros_like(parameter)
    optimizer.step()
    from aprvfi_cli.train.checkpoint import Progress, save_checkpoint
    from aprvfi_cli.train.selection import weight_average

    save_checkpoint(
        tmp_path / "chain",
        model=model,
        optimizer=optimizer,
        progress=Progress(0, 1, 1, 0.0),
        config={},
        moments_dtype=torch.bfloat16,
        extra_files={"average": weight_average(model, 0.999).state_dict()},
        point_latest=False,
    )
    sizes = {p.name: p.stat().st_size for p in (tmp_path / "chain").iterdir()}
    assert set(sizes) == set(CHAIN_FILES) - {"log.jsonl"}
    assert max(sizes.values()) < 16e6 and not (tmp_path / "latest").exists()
