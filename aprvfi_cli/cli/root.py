"""The ``aprvfi`` command: every command registered, and :func:`main`, its edge.

Adding a command: write it in the module of its group (``video_commands.py``, ``data_commands.py``...)
with its options, shared ones from :mod:`aprvfi_cli.cli.options`; a top-level command is one line
below, a sub-command is ``@data_app.command()`` (or ``train_app``) in its module. A command module
imports at its top only what its options need (typer, pathlib, the option groups): what the command
runs (torch, the engine, the trainer, Ray) is imported in its body, so ``aprvfi --help``,
``aprvfi COMMAND --help`` and ``--version`` load no torch (``tests/test_cli_help.py``).

Every error ends as one line on stderr (``aprvfi: error: ...``) with exit code 2 for usage errors
and 1 for failures; library errors name their subject in domain words, and :func:`main` puts the
flag in front. No traceback reaches the user.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from aprvfi_cli import __version__
from aprvfi_cli.cli import bench_command, data_commands, eval_command, pair_command, train_command, video_commands
from aprvfi_cli.cli.command_group import CommandGroup
from aprvfi_cli.errors import AprvfiError

app = CommandGroup(name="aprvfi", help="Smoother and slower video: frame interpolation with the APR-VFI network.")

# the flag that sets each subject a library error can name
FLAGS = {
    "fps": "--fps",
    "factor": "--factor",
    "device": "--device",
    "precision": "--precision",
    "threads": "--threads",
    "weights": "--weights",
    "route": "--route",
    "flow_scale": "--flow-scale",
    "preset": "--preset",
    "codec": "--codec",
    "pix_fmt": "--pix-fmt",
    "crf": "--crf",
    "scene_threshold": "--scene-threshold",
    "ray": "--ray",
}


def _version(value: bool) -> None:
    if value:
        print(f"aprvfi {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
) -> None:
    """Smoother and slower video: frame interpolation with the APR-VFI network."""


# In the order `aprvfi --help` lists them.
app.command()(video_commands.slowmo)
app.command()(video_commands.convert)
app.command()(video_commands.batch)
app.command()(pair_command.pair)
app.command()(video_commands.info)
app.command("bench")(bench_command.bench)
app.command("eval")(eval_command.evaluate)
app.add_typer(train_command.train_app, name="train")
app.add_typer(data_commands.data_app, name="data")


def error_line(error: AprvfiError) -> str:
    """The user's line for a library error: the flag of its subject in front of its domain words."""
    flag = FLAGS.get(error.subject or "")
    if flag is None or error.message.startswith(flag):
        return error.message
    return f"{flag}: {error.message}"


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the app, turn every exception into one stderr line and an exit code."""
    from aprvfi_cli.video.termination import Terminated, terminate_on_signals

    command = typer.main.get_command(app)
    args = sys.argv[1:] if argv is None else list(argv)
    try:
        with terminate_on_signals():  # SIGTERM/SIGHUP/SIGINT unwind, so temporary files go
            code = command.main(args, prog_name="aprvfi", standalone_mode=False)
        return code if isinstance(code, int) else 0
    except Terminated as stop:
        return _fail(stop.message, stop.exit_code)
    except AprvfiError as error:
        return _fail(error_line(error), error.exit_code)
    except KeyboardInterrupt:
        return _fail("interrupted", 130)
    except Exception as error:
        if type(error).__name__ == "NoArgsIsHelpError":  # `aprvfi` or a group alone: its help, as click does
            print(error.ctx.get_help(), file=sys.stderr)
            return error.exit_code
        if hasattr(error, "format_message") and hasattr(error, "exit_code"):  # click's errors
            return _fail(error.format_message(), error.exit_code)
        if type(error).__name__ in ("Exit", "Abort"):
            return getattr(error, "exit_code", 1)
        return _fail(f"unexpected {type(error).__name__}: {error}", 1)
    except SystemExit as exit_:
        return exit_.code if isinstance(exit_.code, int) else 1


def _fail(message: str, code: int) -> int:
    text = " ".join(str(message).split())
    print(f"aprvfi: error: {text}", file=sys.stderr)
    return code
