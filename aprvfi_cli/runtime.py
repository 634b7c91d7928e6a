"""Process-wide runtime settings that must be made before torch loads its OpenMP library."""

from __future__ import annotations

import os


def choose_openmp_wait_policy() -> str | None:
    """Let OpenMP threads sleep instead of spin when the machine's cores are already busy.

    Spinning threads are many times slower when another process holds a core, and sleeping
    ones a little slower on a quiet machine (``docs/BENCHMARKS.md`` §6). So PASSIVE is chosen only
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


def openmp_wait_policy() -> str:
    """The OpenMP wait policy of this process, lower case: ``active``, ``passive``, or ``default``
    (unset: the OpenMP library's own). Timings depend on it: report it beside them."""
    return os.environ.get("OMP_WAIT_POLICY", "").strip().lower() or "default"
