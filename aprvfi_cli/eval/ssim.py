"""SSIM (Wang et al. 2004) on 8-bit RGB frames, computed like scikit-image's
``structural_similarity(a, b, channel_axis=2, data_range=255, gaussian_weights=True, sigma=1.5,
use_sample_covariance=False)``: an 11x11 Gaussian window (sigma 1.5), K1 = 0.01, K2 = 0.03,
symmetric ("reflect") borders, the 5-px border of the SSIM map left out of the mean, and the
channels averaged. Written in numpy (no scipy / skimage dependency).
"""

from __future__ import annotations

import numpy as np

_SIGMA = 1.5
_RADIUS = 5  # skimage: int(truncate * sigma + 0.5) with truncate = 3.5 -> an 11-tap window
_K1, _K2 = 0.01, 0.03


def gaussian_window(*, sigma: float = _SIGMA, radius: int = _RADIUS) -> np.ndarray:
    """The normalised 1-D Gaussian taps, (2 * radius + 1,)."""
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    taps = np.exp(-0.5 * (x / sigma) ** 2)
    return taps / taps.sum()


def _filter(image: np.ndarray, taps: np.ndarray) -> np.ndarray:
    """Separable Gaussian filter of (H, W) float64 with symmetric padding (scipy's 'reflect')."""
    radius = len(taps) // 2
    padded = np.pad(image, radius, mode="symmetric")
    height, width = image.shape
    rows = sum(w * padded[i : i + height, :] for i, w in enumerate(taps))
    return sum(w * rows[:, i : i + width] for i, w in enumerate(taps))


def ssim_channel(a: np.ndarray, b: np.ndarray, *, data_range: float = 255.0) -> float:
    """Mean SSIM of two (H, W) arrays, the ``radius``-px border excluded."""
    a, b = a.astype(np.float64), b.astype(np.float64)
    taps = gaussian_window()
    mu_a, mu_b = _filter(a, taps), _filter(b, taps)
    var_a = _filter(a * a, taps) - mu_a * mu_a
    var_b = _filter(b * b, taps) - mu_b * mu_b
    cov = _filter(a * b, taps) - mu_a * mu_b
    c1, c2 = (_K1 * data_range) ** 2, (_K2 * data_range) ** 2
    ssim_map = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
    pad = _RADIUS
    return float(ssim_map[pad:-pad, pad:-pad].mean())


def ssim(prediction: np.ndarray, truth: np.ndarray) -> float:
    """SSIM of two (H, W, 3) uint8 RGB images, averaged over the channels."""
    if prediction.shape != truth.shape:
        raise ValueError(f"shape mismatch: {prediction.shape} vs {truth.shape}")
    if min(prediction.shape[:2]) < 2 * _RADIUS + 1:
        raise ValueError(f"SSIM needs frames of at least {2 * _RADIUS + 1} px, got {prediction.shape[:2]}")
    return float(np.mean([ssim_channel(prediction[..., c], truth[..., c]) for c in range(prediction.shape[2])]))
