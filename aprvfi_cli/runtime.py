"""Process-wide runtime settings that must be made before torch loads its OpenMP library."""

from __future__ import annotations

import os
import time

# How long the CPU is watched to tell a machine busy now from one a finished run left a load average on.
_SAMPLE_SECONDS = 0.1


def choose_openmp_wait_policy() -> str | None:
    """Let OpenMP threads sleep instead of spin when the machine's cores are already busy.

    Spinning threads are many times slower when another process holds a core, and sleeping
    ones a little slower on a quiet machine (``docs/BENCHMARKS.md`` §6). So PASSIVE is chosen only
    when the 1-minute load average shows busy cores and the cores are busy now (the average stays
    high for a minute after a run ends, e.g. the previous file of a shell loop), and never over the
    user's own setting. Returns the policy set, or None. Call it before ``import torch``.
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
    busy = busy_cpus()
    if busy is not None and busy < 0.75 * cores:
        return None
    os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
    return "PASSIVE"


def busy_cpus(seconds: float = _SAMPLE_SECONDS) -> float | None:
    """How many CPUs were busy over the next ``seconds`` (all processes, from ``/proc/stat``), or
    None where that file is not available."""

    def read() -> tuple[int, int, int]:  # (all ticks, idle and iowait ticks) over every CPU, and the CPUs
        with open("/proc/stat", encoding="ascii") as stat:
            lines = stat.read().splitlines()
        fields = [int(value) for value in lines[0].split()[1:9]]
        cpus = sum(line.startswith("cpu") and line[3:4].isdigit() for line in lines)
        return sum(fields), fields[3] + fields[4], cpus

    try:
        total0, idle0, _ = read()
        time.sleep(seconds)
        total1, idle1, cpus = read()
    except (OSError, ValueError, IndexError):
        return None
    elapsed = total1 - total0
    return cpus * (1 - (idle1 - idle0) / elapsed) if elapsed > 0 else None


def openmp_wait_policy() -> str:
    """The OpenMP wait policy of this process, lower case: ``active``, ``passive``, or ``default``
    (unset: the OpenMP library's own). Timings depend on it: report it beside them."""
    return os.environ.get("OMP_WAIT_POLICY", "").strip().lower() or "default"
