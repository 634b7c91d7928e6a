"""The OpenMP wait policy follows the machine's load and never overrides the user's choice."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from aprvfi_cli import runtime
from aprvfi_cli.runtime import busy_cpus, choose_openmp_wait_policy, openmp_wait_policy


@pytest.fixture
def cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def test_busy_machine_gets_passive_waiting(monkeypatch: pytest.MonkeyPatch, cores: int) -> None:
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    monkeypatch.setattr(os, "getloadavg", lambda: (float(cores), 0.0, 0.0))
    monkeypatch.setattr(runtime, "busy_cpus", lambda: float(cores))
    assert choose_openmp_wait_policy() == "PASSIVE"
    assert os.environ["OMP_WAIT_POLICY"] == "PASSIVE"
    assert openmp_wait_policy() == "passive"  # what the timings report


def test_quiet_machine_keeps_the_default(monkeypatch: pytest.MonkeyPatch, cores: int) -> None:
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    monkeypatch.setattr(os, "getloadavg", lambda: (0.1 * cores, 0.0, 0.0))
    assert choose_openmp_wait_policy() is None
    assert "OMP_WAIT_POLICY" not in os.environ
    assert openmp_wait_policy() == "default"


def test_a_load_left_by_a_finished_run_keeps_the_default(monkeypatch: pytest.MonkeyPatch, cores: int) -> None:
    # The 1-minute average stays high after the previous file of a shell loop; the cores are idle now.
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    monkeypatch.setattr(os, "getloadavg", lambda: (float(cores), 0.0, 0.0))
    monkeypatch.setattr(runtime, "busy_cpus", lambda: 0.0)
    assert choose_openmp_wait_policy() is None
    assert "OMP_WAIT_POLICY" not in os.environ


def test_without_proc_stat_the_load_average_decides(monkeypatch: pytest.MonkeyPatch, cores: int) -> None:
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    monkeypatch.setattr(os, "getloadavg", lambda: (float(cores), 0.0, 0.0))
    monkeypatch.setattr(runtime, "busy_cpus", lambda: None)
    assert choose_openmp_wait_policy() == "PASSIVE"


@pytest.mark.skipif(not os.path.exists("/proc/stat"), reason="needs Linux's /proc/stat")
def test_busy_cpus_sees_a_spinning_process() -> None:
    spinner = subprocess.Popen(
        [sys.executable, "-c", "import time\nend = time.time() + 5\nwhile time.time() < end: pass"]
    )
    try:
        time.sleep(0.3)  # past the interpreter's start
        assert busy_cpus(0.5) >= 0.6
    finally:
        spinner.kill()
        spinner.wait()


def test_user_setting_wins(monkeypatch: pytest.MonkeyPatch, cores: int) -> None:
    monkeypatch.setenv("OMP_WAIT_POLICY", "ACTIVE")
    monkeypatch.setattr(os, "getloadavg", lambda: (10.0 * cores, 0.0, 0.0))
    assert choose_openmp_wait_policy() is None
    assert os.environ["OMP_WAIT_POLICY"] == "ACTIVE"


def test_the_package_sets_the_policy_before_torch_loads() -> None:
    """Importing aprvfi_cli (as the CLI and load_model() users do) applies it while torch is not yet loaded."""
    # The runtime module is loaded first and told the cores are busy; importing the package then runs it.
    code = (
        "import importlib.util, os, sys; os.getloadavg = lambda: (99.0, 99.0, 99.0); "
        f"spec = importlib.util.spec_from_file_location('aprvfi_cli.runtime', {runtime.__file__!r}); "
        "module = importlib.util.module_from_spec(spec); spec.loader.exec_module(module); "
        "module.busy_cpus = lambda: 99.0; sys.modules['aprvfi_cli.runtime'] = module; import aprvfi_cli; "
        "print(os.environ.get('OMP_WAIT_POLICY'), 'torch' in sys.modules)"
    )
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert result.stdout.split() == ["PASSIVE", "False"]
