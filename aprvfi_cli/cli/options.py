"""Command-line option groups shared by several commands, each defined once.

A group is a frozen dataclass whose fields carry their Typer option; :func:`with_options` adds a
group's fields to a command's options and hands the command one instance of the group. Used by
``cli.py`` and by the commands that live with their code (``eval``, ``bench``).
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import typing
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

MODEL_PANEL = "Model"
ENCODER_PANEL = "Encoder"

Device = Annotated[str, typer.Option("--device", help="auto, cpu or cuda.", rich_help_panel=MODEL_PANEL)]
Precision = Annotated[str, typer.Option("--precision", help="auto, fp32, bf16 or fp16.", rich_help_panel=MODEL_PANEL)]
Threads = Annotated[
    int | None,
    typer.Option("--threads", help="CPU threads (default: $APRVFI_THREADS, else all).", rich_help_panel=MODEL_PANEL),
]
Weights = Annotated[
    Path | None,
    typer.Option("--weights", help="aprvfi or EBME weights file (default: shipped).", rich_help_panel=MODEL_PANEL),
]
Overwrite = Annotated[bool, typer.Option("--overwrite", help="Replace an existing output.")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar or notes.")]


@dataclass(frozen=True)
class PlacementOptions:
    """Where and how the network runs."""

    device: Device = "auto"
    precision: Precision = "auto"
    threads: Threads = None


@dataclass(frozen=True)
class ModelOptions:
    """Which weights, where and how the network runs, and the routing of its dynamic blocks."""

    weights: Weights = None
    device: Device = "auto"
    precision: Precision = "auto"
    threads: Threads = None
    route: Annotated[
        str, typer.Option("--route", help="apr, static or keep ratios 0.1,0.4,0.6,0.9.", rich_help_panel=MODEL_PANEL)
    ] = "apr"


@dataclass(frozen=True)
class EncoderOptions:
    """How the output video is encoded, and where scene cuts stop interpolation."""

    codec: Annotated[str, typer.Option("--codec", help="h264, h265 or av1.", rich_help_panel=ENCODER_PANEL)] = "h264"
    crf: Annotated[
        int, typer.Option("--crf", min=0, max=63, help="Quality (lower = better).", rich_help_panel=ENCODER_PANEL)
    ] = 18
    preset: Annotated[
        str | None, typer.Option("--preset", help="Encoder preset (e.g. medium).", rich_help_panel=ENCODER_PANEL)
    ] = None
    pix_fmt: Annotated[
        str | None, typer.Option("--pix-fmt", help="Pixel format (default: source).", rich_help_panel=ENCODER_PANEL)
    ] = None
    scene_threshold: Annotated[
        float,
        typer.Option("--scene-threshold", help="Cut threshold (luma MAD, 0-1; 0: off).", rich_help_panel=ENCODER_PANEL),
    ] = 0.1


Command = TypeVar("Command", bound=Callable[..., Any])


def with_options(**groups: type) -> Callable[[Command], Command]:
    """Give a command the options of each group: ``@with_options(model=ModelOptions)`` adds the
    fields of :class:`ModelOptions` as options and calls the command with ``model=ModelOptions(...)``.

    Raises :class:`TypeError` at import time when a field name clashes with a command parameter.
    """

    def decorate(command: Command) -> Command:
        own = inspect.signature(command, eval_str=True)
        parameters = [p for p in own.parameters.values() if p.name not in groups]
        taken = {p.name for p in parameters}
        members: dict[str, tuple[type, list[str]]] = {}
        for keyword, group in groups.items():
            hints = typing.get_type_hints(group, include_extras=True)
            names = [field.name for field in dataclasses.fields(group)]
            if clash := taken & set(names):
                raise TypeError(f"{command.__name__}: options {sorted(clash)} of {group.__name__} clash")
            taken |= set(names)
            members[keyword] = (group, names)
            parameters += [
                inspect.Parameter(field.name, inspect.Parameter.KEYWORD_ONLY, default=field.default,
                                  annotation=hints[field.name])
                for field in dataclasses.fields(group)
            ]  # fmt: skip

        @functools.wraps(command)
        def run(**values: Any) -> Any:
            for keyword, (group, names) in members.items():
                values[keyword] = group(**{name: values.pop(name) for name in names})
            return command(**values)

        run.__signature__ = own.replace(parameters=parameters)  # type: ignore[attr-defined]
        run.__annotations__ = {p.name: p.annotation for p in parameters}
        return run  # type: ignore[return-value]

    return decorate
