"""Duplicate and cut detection on synthetic frames."""

from __future__ import annotations

import numpy as np
from conftest import pattern

from aprvfi_cli.video.scene import CutDetector, FrameSignature, SceneSettings, is_duplicate


def sig(image: np.ndarray) -> FrameSignature:
    return FrameSignature.of(image)


def test_exact_and_noisy_repeats_are_duplicates() -> None:
    a = pattern(3, width=320, height=240)
    noise = np.random.default_rng(0).random(a.shape) < 0.1  # codec-like: 10% of values off by 1
    b = (a.astype(int) + noise).clip(0, 255).astype(np.uint8)
    assert is_duplicate(sig(a), sig(a), SceneSettings())
    assert is_duplicate(sig(a), sig(b), SceneSettings())


def test_small_moving_object_is_not_a_duplicate() -> None:
    a = np.full((720, 1280, 3), 90, np.uint8)
    b = a.copy()
    a[300:340, 600:640] = 250
    b[300:340, 603:643] = 250  # a 40 px object moved 3 px: whole-frame mean diff < 0.3/255
    assert np.abs(a.astype(float) - b).mean() < 0.3
    assert not is_duplicate(sig(a), sig(b), SceneSettings())
    assert not is_duplicate(sig(a), sig(a), SceneSettings(duplicate_threshold=-1))


def test_cut_needs_a_jump_relative_to_recent_motion() -> None:
    frames = [pattern(i, width=128, height=96) for i in range(8)]
    other = pattern(8, width=128, height=96, shot=1)
    detect = CutDetector(SceneSettings())
    assert not any(detect(sig(x), sig(y)) for x, y in zip(frames, frames[1:], strict=False))
    assert detect(sig(frames[-1]), sig(other))
    assert not CutDetector(SceneSettings(cut_threshold=0))(sig(frames[-1]), sig(other))
    # steady fast motion raises every difference, so the same jump is no longer a cut
    busy = CutDetector(SceneSettings(), history=5)
    busy.scores = [0.1] * 5
    assert not busy(sig(frames[-1]), sig(other))
