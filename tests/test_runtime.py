"""The OpenMP wait policy follows the machine's load and never overrides the user's choice."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from aprvfi_cli.runtime import choose_openmp_wait_policy, openmp_wait_policy


@pytest.fixture
def cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def test_busy_machine_gets_passive_waiting(monkeypatch: pytest.MonkeyPatch, cores: int) -> None:
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    monkeypatch.setattr(os, "getloadavg", lambda: (float(cores), 0.0, 0.0))
    assert choose_openmp_wait_policy() == "PASSIVE"
    assert os.environ["OMP_WAIT_POLICY"] == "PASSIVE"
    assert openmp_wait_policy() == "passive"  # what the timings report


def test_quiet_machine_keeps_the_default(monkeypatch: pytest.MonkeyPatch, cores: int) -> None:
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    monkeypatch.setattr(os, "getloadavg", lambda: (0.1 * cores, 0.0, 0.0))
    assert choose_openmp_wait_policy() is None
    assert "OMP_WAIT_POLICY" not in os.environ
    assert openmp_wait_policy() == "default"


def test_user_setting_wins(monkeypatch: pytest.MonkeyPatch, cores: int) -> None:
    monkeypatch.setenv("OMP_WAIT_POLICY", "ACTIVE")
    monkeypatch.setattr(os, "getloadavg", lambda: (10.0 * cores, 0.0, 0.0))
    assert choose_openmp_wait_policy() is None
    assert os.environ["OMP_WAIT_POLICY"] == "ACTIVE"


def test_the_package_sets_the_policy_before_torch_loads() -> None:
    """Importing aprvfi_cli (as the CLI and load_model() users do) applies it while torch is not yet loaded."""
    code = (
        "import os, sys; os.getloadavg = lambda: (99.0, 99.0, 99.0); import aprvfi_cli; "
        "print(os.environ.get('OMP_WAIT_POLICY'), 'torch' in sys.modules)"
    )
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert result.stdout.split() == ["PASSIVE", "False"]
