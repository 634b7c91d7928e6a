"""The Interpolator API, load_model's choices and the streaming engine's scheduling."""

from __future__ import annotations

from fractions import Fraction as F
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import make_clip, pattern, read_video

from aprvfi_cli import Interpolator, load_model
from aprvfi_cli.engine.stream import JobOptions, Retime, process_video
from aprvfi_cli.errors import ModelError, UsageError
from aprvfi_cli.model import APRVFI, ModelConfig
from aprvfi_cli.placement import Placement
from aprvfi_cli.video.scene import SceneSettings


@pytest.fixture(scope="module")
def tiny() -> Interpolator:
    torch.manual_seed(0)
    return Interpolator(APRVFI(ModelConfig.tiny()), method="model", max_patches=None)


def test_interpolate_numpy_in_out(tiny: Interpolator) -> None:
    a, b = pattern(0, width=40, height=30), pattern(3, width=40, height=30)
    mid = tiny.interpolate(a, b, 0.5)
    assert isinstance(mid, np.ndarray) and mid.shape == a.shape and mid.dtype == np.uint8
    many = tiny.interpolate(a, b, [0.0, 0.25, 0.5, 1.0])
    assert isinstance(many, list) and len(many) == 4
    assert np.array_equal(many[0], a) and np.array_equal(many[3], b)
    assert np.array_equal(many[2], mid)  # batching t values does not change the result


@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last])
def test_frames_come_in_the_placement_memory_format(layout: torch.memory_format) -> None:
    # The model runs in the layout the placement chose (contiguous on CUDA), not in the one
    # the numpy frames happen to have (height, width, channel: channels_last).
    placement = Placement(device=torch.device("cpu"), memory_format=layout)
    interpolator = Interpolator(APRVFI(ModelConfig.tiny()), placement=placement)
    frames = interpolator.to_tensor([pattern(i, width=40, height=30) for i in range(2)])
    assert frames.shape == (2, 3, 30, 40) and frames.is_contiguous(memory_format=layout)


def test_interpolate_rejects_bad_input(tiny: Interpolator) -> None:
    a = pattern(0, width=40, height=30)
    with pytest.raises(ValueError):
        tiny.interpolate(a, a[:20], 0.5)
    with pytest.raises(ValueError):
        tiny.interpolate(a.astype(np.float32), a.astype(np.float32), 0.5)
    with pytest.raises(ValueError):
        tiny.interpolate(a, a, 1.5)


def test_flow_once_per_pair(tiny: Interpolator, monkeypatch) -> None:
    calls: list[int] = []
    real = tiny.model.estimate

    def spy(img0, img1, **kwargs):
        calls.append(img0.shape[0])
        return real(img0, img1, **kwargs)

    monkeypatch.setattr(tiny.model, "estimate", spy)
    a, b = pattern(0, width=40, height=30), pattern(2, width=40, height=30)
    out = tiny.interpolate_pairs([a, b], [b, a], [[0.25, 0.5, 0.75], [0.5]])
    assert calls == [2]  # one flow estimate for both pairs and all four t values
    assert [len(x) for x in out] == [3, 1]


@torch.no_grad()
def test_context_released_on_last_use_keeps_every_frame() -> None:
    torch.manual_seed(0)
    model = APRVFI(ModelConfig.tiny())
    for parameter in model.synthesis.head.parameters():  # a zero head would hide the context
        torch.nn.init.normal_(parameter, std=0.1)
    interpolator = Interpolator(model, max_patches=3)
    img0, img1 = torch.rand(2, 3, 30, 40), torch.rand(2, 3, 30, 40)
    # Chunks of 2 frames: a copied sub-batch, then every pair in order (the last t: released);
    # and the other way round (kept for the next t, then a copy).
    for times in ([[0.25, 0.5, 0.75], [0.5]], [[0.5], [0.25, 0.5]]):
        batched = interpolator.interpolate_tensors(img0, img1, times)
        for b, ts in enumerate(times):
            for i, t in enumerate(ts):
                single = interpolator.interpolate_tensors(img0[b : b + 1], img1[b : b + 1], [[t]])[0]
                torch.testing.assert_close(batched[b][i : i + 1], single, rtol=0, atol=1e-5)


def test_synthesis_is_patch_chunked(monkeypatch) -> None:
    interpolator = Interpolator(APRVFI(ModelConfig.tiny()), max_patches=2)
    seen: list[object] = []
    real = interpolator.model.synthesize

    def spy(pair, t, **kwargs):
        seen.append(kwargs.get("max_patches"))
        return real(pair, t, **kwargs)

    monkeypatch.setattr(interpolator.model, "synthesize", spy)
    a = pattern(0, width=40, height=30)
    interpolator.interpolate(a, a, 0.5)
    assert seen == [2]


def test_10bit_arrays_round_trip(tiny: Interpolator) -> None:
    a = pattern(0, width=40, height=30).astype(np.uint16) * 257
    out = tiny.interpolate_pairs([a], [a], [[0.5]])[0][0]
    assert out.dtype == np.uint16 and out.shape == a.shape


def test_load_model_flow_only_from_weights_dir(use_weights: Path) -> None:
    model = load_model(device="cpu")
    assert model.method == "flow-only" and "flow-only" in model.describe()
    a = pattern(0, width=64, height=48)
    assert model.interpolate(a, a, 0.5).shape == a.shape


def test_load_model_prefers_trained_weights(tmp_path: Path, monkeypatch) -> None:
    from aprvfi_cli.model.weights import DEFAULT_WEIGHTS, save_weights

    save_weights(tmp_path / DEFAULT_WEIGHTS, APRVFI(ModelConfig.tiny()), {"note": "test"})
    monkeypatch.setenv("APRVFI_WEIGHTS_DIR", str(tmp_path))
    model = load_model(device="cpu", precision="fp32", route="static")
    assert model.method == "model" and model.routing.mode == "static"
    assert model.model.config.name == "tiny"


def test_load_model_errors(tmp_path: Path, monkeypatch) -> None:
    with pytest.raises(UsageError):
        load_model(tmp_path / "missing.pt", device="cpu")
    (tmp_path / "junk.pt").write_bytes(b"junk" * 100)
    with pytest.raises(ModelError):
        load_model(tmp_path / "junk.pt", device="cpu")
    monkeypatch.setenv("APRVFI_WEIGHTS_DIR", str(tmp_path / "empty"))
    with pytest.raises(ModelError):
        load_model(device="cpu")
    with pytest.raises(UsageError):
        load_model(device="cpu", precision="fp16")


def test_bf16_on_cpu(use_weights: Path) -> None:
    model = load_model(device="cpu", precision="bf16")
    a = pattern(0, width=64, height=48)
    assert model.interpolate(a, a, 0.5).dtype == np.uint8


def run(tmp_path: Path, source: Path, interpolator, **kwargs):
    options = JobOptions(retime=Retime(**kwargs.pop("retime")), **kwargs)
    out = tmp_path / f"out-{len(list(tmp_path.iterdir()))}.mp4"
    return process_video(source, out, interpolator=interpolator, options=options), out


def frozen_steps(images: list[np.ndarray]) -> int:
    """Consecutive output frames that are (almost) the same picture: visible stutter."""
    return sum(np.abs(a.astype(int) - b).mean() < 0.5 for a, b in zip(images, images[1:], strict=False))


def test_duplicates_do_not_stutter(tmp_path: Path, use_weights: Path) -> None:
    tiny = load_model(device="cpu")  # flow-only: fast, and any interpolator shows the effect
    source = make_clip(tmp_path / "dups.mp4", frames=12, duplicates=(4, 5, 9))
    result, out = run(tmp_path, source, tiny, retime={"fps": F(60)})
    assert result.duplicates == 3
    times, images, _ = read_video(out)
    assert len(times) == 24 and frozen_steps(images[:-2]) == 0
    kept, out2 = run(tmp_path, source, tiny, retime={"fps": F(60)}, scene=SceneSettings(duplicate_threshold=-1))
    assert kept.duplicates == 0 and frozen_steps(read_video(out2)[1][:-2]) >= 3


def test_batches_are_ordered_and_independent(tmp_path: Path, use_weights: Path, monkeypatch) -> None:
    from aprvfi_cli.video.writer import VideoWriter

    written: list[tuple[F, np.ndarray]] = []
    real = VideoWriter.write

    def record(self, image, time):
        written.append((time, image.copy()))
        real(self, image, time)

    monkeypatch.setattr(VideoWriter, "write", record)
    tiny = load_model(device="cpu")  # flow-only keeps this fast; batching is the engine's
    source = make_clip(tmp_path / "clip.mp4", frames=6)
    one, _ = run(tmp_path, source, tiny, retime={"slowmo": F(2)}, batch_pairs=1)
    first, written[:] = list(written), []
    many, _ = run(tmp_path, source, tiny, retime={"slowmo": F(2)}, batch_pairs=3)
    assert one.frames_out == many.frames_out == len(first) == len(written) == 12
    assert [t for t, _ in first] == [t for t, _ in written] == [F(n, 30) for n in range(12)]
    for (_, x), (_, y) in zip(first, written, strict=True):  # same pictures, before encoding
        assert np.abs(x.astype(int) - y).max() <= 2


def test_retime_validation() -> None:
    with pytest.raises(UsageError):
        Retime()
    with pytest.raises(UsageError):
        Retime(fps=F(30), slowmo=F(2))
    with pytest.raises(UsageError):
        Retime(slowmo=F(1))


def test_flow_only_shortcut_matches_model(use_weights: Path) -> None:
    """The flow-only path skips the context net; the pixels must not change."""
    model = load_model(device="cpu")
    a, b = pattern(0, width=72, height=40), pattern(3, width=72, height=40)
    fast = model.interpolate(a, b, 0.4)
    with torch.inference_mode():
        pair = model.model.estimate(model.to_tensor([a]), model.to_tensor([b]))
        reference = model.to_images(model.model.flow_only(pair, 0.4), np.uint8)[0]
    assert np.abs(fast.astype(int) - reference).max() <= 1


def test_cpu_threads_setting(use_weights: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from aprvfi_cli.placement import default_threads

    before = torch.get_num_threads()
    monkeypatch.delenv("APRVFI_THREADS", raising=False)
    try:
        one = load_model(device="cpu", precision="fp32", threads=1)
        assert one.placement.threads == 1 and torch.get_num_threads() == 1
        # what the CLI's "interpolated with ..." note says: the weights, where they run, the flow's scale
        assert one.describe().endswith(" on cpu, fp32, 1 thread, flow scale auto")
        torch.set_num_threads(2)
        assert (
            load_model(device="cpu", precision="fp32").describe().endswith(" on cpu, fp32, 2 threads, flow scale auto")
        )
        assert default_threads() is None  # torch's default: every core
        monkeypatch.setenv("APRVFI_THREADS", "3")
        assert default_threads() == 3
        monkeypatch.setenv("APRVFI_THREADS", "zero")
        with pytest.raises(UsageError, match="APRVFI_THREADS"):
            default_threads()
        for bad in (0, -1):
            with pytest.raises(UsageError, match="threads"):
                load_model(device="cpu", threads=bad)
    finally:
        torch.set_num_threads(before)
