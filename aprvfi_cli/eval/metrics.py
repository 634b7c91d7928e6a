"""Image quality metrics on 8-bit RGB frames (the protocol of the VFI literature)."""

from __future__ import annotations

import numpy as np
import torch


def psnr(prediction: np.ndarray, truth: np.ndarray) -> float:
    """PSNR in dB of two (H, W, 3) uint8 images over the whole frame, peak 255."""
    if prediction.shape != truth.shape:
        raise ValueError(f"shape mismatch: {prediction.shape} vs {truth.shape}")
    mse = np.mean((prediction.astype(np.float64) - truth.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else float(10 * np.log10(255.0**2 / mse))


def to_uint8(image: np.ndarray) -> np.ndarray:
    """[0, 1] floats -> uint8 with rounding (what a saved frame holds)."""
    return np.clip(np.round(image * 255.0), 0, 255).astype(np.uint8)


def frame_psnr(frame: torch.Tensor, truth: np.ndarray) -> float:
    """PSNR in dB of a model's (1, 3, H, W) frame in [0, 1], saved as 8 bits, against (H, W, 3) uint8 truth."""
    return psnr(to_uint8(frame[0].float().permute(1, 2, 0).cpu().numpy()), truth)


def batch_psnr(frames: torch.Tensor, truth: torch.Tensor) -> torch.Tensor:
    """PSNR in dB per image (B,) of model frames (B, 3, H, W) in [0, 1], saved as 8 bits, against uint8
    truth (B, 3, H, W): :func:`frame_psnr` for a batch, on the frames' device."""
    if frames.shape != truth.shape:
        raise ValueError(f"shape mismatch: {tuple(frames.shape)} vs {tuple(truth.shape)}")
    saved = frames.float().mul(255).round().clamp(0, 255).double()
    mse = (saved - truth.double()).square().flatten(1).mean(dim=1)
    return torch.where(mse == 0, torch.inf, 10 * torch.log10(255.0**2 / mse))
