"""Help is instant: ``aprvfi --help``, every ``aprvfi COMMAND --help`` and ``--version`` load no torch
(nor numpy, PyAV, Ray, rich or pydantic); ``aprvfi`` alone prints its help, not an error line."""

from __future__ import annotations

import subprocess
import sys

# Runs in a fresh interpreter: every help screen of the app, then what was imported.
HELP_SCREENS = """
import contextlib, io, sys
import typer
from aprvfi_cli.cli import app, main

def paths(command, prefix):
    yield prefix
    for name in getattr(command, "list_commands", lambda ctx: [])(None):
        yield from paths(command.get_command(None, name), [*prefix, name])

for argv in [["--version"], *([*p, "--help"] for p in paths(typer.main.get_command(app), []))]:
    with contextlib.redirect_stdout(io.StringIO()) as shown:
        code = main(argv)
    assert code == 0 and shown.getvalue().strip(), (argv, code)
    print(" ".join(argv))
heavy = sorted(m for m in ("torch", "numpy", "av", "ray", "rich", "pydantic") if m in sys.modules)
print("loaded:", ",".join(heavy))
"""


def test_help_and_version_load_no_torch() -> None:
    done = subprocess.run([sys.executable, "-c", HELP_SCREENS], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    shown = done.stdout.splitlines()
    for screen in ("--version", "--help", "convert --help", "bench --help", "train --help", "data store --help"):
        assert screen in shown, shown
    assert shown[-1] == "loaded: ", shown[-1]


def test_help_lists_options_under_their_panels(cli) -> None:
    result = cli("convert", "--help")
    assert result.code == 0
    for panel in ("Arguments:", "Options:", "Model options:", "Placement options:", "Encoder options:"):
        assert panel in result.out, result.out
    model = result.out.split("Model options:")[1].split("\n\n")[0]
    assert "--weights" in model and "--route" in model and "--device" not in model


def test_no_arguments_prints_the_help_and_no_error_line(cli) -> None:
    for args in ((), ("data",)):
        result = cli(*args)
        assert result.code == 2  # as click does for a command that needs one
        assert "Usage: aprvfi" in result.err and "Commands:" in result.err
        assert "aprvfi: error" not in result.err
