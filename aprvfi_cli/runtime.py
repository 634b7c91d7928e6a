"""Process-wide runtime settings that must be made before torch loads its OpenMP library."""

from __future__ import annotations

import os


def choose_openmp_wait_policy() -> str | None:
    """Let OpenMP threads sleep instead of spin when the machine's cores are already busy.

    Measured on 2 cores (``aprvfi convert examples/carphone.mp4 --fps 59.94``): with another
    process holding a core, spinning threads took 65 s and sleeping ones 5.4 s; on a quiet
    machine sleeping costs 16% (flow-only 720p pair: 1.34 vs 1.15 s). So PASSIVE is chosen only
    when the 1-minute load average shows busy cores, and never over the user's own setting.
    Returns the policy set, or None. Call it before ``import torch``.
    """
    if "OMP_WAIT_POLICY" in os.environ:
        return None
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    try:
        load = os.getloadavg()[0]
    except OSError:  # not available on this platform
        return None
    if load < 0.75 * cores:
        return None
    os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
    return "PASSIVE"
