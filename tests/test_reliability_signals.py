"""Issue 10, defect 3: a signal that ends the run (kill, timeout, a dropped ssh session, docker
stop, Ctrl-C) removes the hidden temporary file and says so in one line.

A real `aprvfi convert` process is sent the signal once its temporary file exists (mid-run).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from fractions import Fraction as F
from pathlib import Path

import pytest
from conftest import make_clip

ENTRY = "import sys; from aprvfi_cli.cli import main; sys.exit(main())"


@pytest.fixture(scope="module")
def long_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """10 s at 30 fps: converting it to 120 fps takes far longer than the test waits."""
    return make_clip(tmp_path_factory.mktemp("long") / "long.mp4", frames=300, rate=F(30), audio=True)


def wait_for(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT])
def test_signal_removes_temporary_file(signum, long_clip, weights_dir, tmp_path) -> None:
    out = tmp_path / "out.mp4"
    env = {**os.environ, "APRVFI_WEIGHTS_DIR": str(weights_dir), "APRVFI_THREADS": "1"}
    args = [sys.executable, "-c", ENTRY, "convert", str(long_clip), "--fps", "120", "-o", str(out), "-q"]
    process = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        started = wait_for(lambda: any(tmp_path.glob(".out.aprvfi-*.part.mp4")), timeout=120)
        assert started, process.communicate(timeout=60)
        process.send_signal(signum)
        _, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    name = signal.Signals(signum).name
    assert process.returncode == 128 + signum, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert lines == [f"aprvfi: error: stopped by {name}; the partial output was removed, nothing is left behind"]
    assert list(tmp_path.iterdir()) == []  # no temporary file, no output


def test_an_ignored_hangup_stays_ignored(long_clip, weights_dir, tmp_path) -> None:
    """`nohup aprvfi convert ... &` ignores SIGHUP: the run must outlive the logout that sends it."""
    out = tmp_path / "out.mp4"
    env = {**os.environ, "APRVFI_WEIGHTS_DIR": str(weights_dir), "APRVFI_THREADS": "1"}
    args = [sys.executable, "-c", ENTRY, "convert", str(long_clip), "--fps", "120", "-o", str(out), "-q"]
    process = subprocess.Popen(
        args,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_IGN),
    )
    try:
        assert wait_for(lambda: any(tmp_path.glob(".out.aprvfi-*.part.mp4")), timeout=120)
        process.send_signal(signal.SIGHUP)
        assert not wait_for(lambda: process.poll() is not None, timeout=2.0)  # still running
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 128 + signal.SIGTERM
    assert list(tmp_path.iterdir()) == []


def test_a_signal_while_the_temporary_file_opens_removes_it(tmp_path, monkeypatch) -> None:
    """The moment a watcher first sees the temporary file is while PyAV opens it: a signal then
    (raised here by PyAV's open, as the handler would raise it) must still leave nothing behind."""
    from aprvfi_cli.video import writer
    from aprvfi_cli.video.termination import Terminated

    real_open = writer.av.open

    def interrupted_open(file, *args, **kwargs):
        if not (isinstance(file, str) and ".part." in file):
            return real_open(file, *args, **kwargs)  # e.g. the encoder probes
        assert Path(file).exists()  # the writer created it just before
        raise Terminated(signal.SIGTERM)

    monkeypatch.setattr(writer.av, "open", interrupted_open)
    with pytest.raises(Terminated):
        writer.VideoWriter(
            tmp_path / "out.mp4", width=64, height=48, rate=F(30), time_base=F(1, 30), settings=writer.EncodeSettings()
        )
    assert list(tmp_path.iterdir()) == []
