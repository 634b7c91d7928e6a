"""Command-line options shared by several commands, each declared once, with one meaning.

A group is a frozen dataclass whose fields carry their Typer option; :func:`with_options` adds a
group's fields to a command's options and hands the command one instance of the group:

- :class:`ModelOptions`: which network runs, how it routes and at what resolution its flow runs
  (``--weights``, ``--route``, ``--flow-scale``). A new
  model option is a field here, and a keyword of :func:`~aprvfi_cli.engine.interpolator.load_model`
  that :func:`load_interpolator` passes on: every command that runs the model then has it.
- :class:`PlacementOptions`: where and how it runs (``--device``, ``--precision``, ``--threads``),
  for :func:`~aprvfi_cli.placement.resolve_placement`.
- :class:`EncoderOptions`: how an output video is encoded.

This module imports no torch: it is read for every ``--help``.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import typing
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

if TYPE_CHECKING:
    from aprvfi_cli.engine.interpolator import Interpolator

DEFAULT_CACHE = Path("cache")  # the prepared training data (`aprvfi data prepare`), where aprvfi runs

MODEL_PANEL = "Model"
PLACEMENT_PANEL = "Placement"
ENCODER_PANEL = "Encoder"

Weights = Annotated[
    Path | None,
    typer.Option(
        "--weights", help="aprvfi or EBME weights file (default: the shipped weights).", rich_help_panel=MODEL_PANEL
    ),
]
Route = Annotated[
    str | None,
    typer.Option(
        "--route",
        help="apr (the router decides; the default), static (every patch), keep ratios such as 0.1,0.4,0.6,0.9, "
        "or flow (flow-only: no synthesis, the fastest).",
        show_default=False,
        rich_help_panel=MODEL_PANEL,
    ),
]
FlowScale = Annotated[
    str,
    typer.Option(
        "--flow-scale",
        help="Resolution the flow is estimated at: auto (from the frame size), 1 (full), 0.5 or 0.25; "
        "everything else runs at full resolution.",
        rich_help_panel=MODEL_PANEL,
    ),
]
Device = Annotated[str, typer.Option("--device", help="auto, cpu or cuda.", rich_help_panel=PLACEMENT_PANEL)]
Precision = Annotated[
    str,
    typer.Option(
        "--precision",
        help="auto (bf16 on CUDA and on CPUs with native bf16, else fp32), fp32, bf16 or fp16.",
        rich_help_panel=PLACEMENT_PANEL,
    ),
]
Threads = Annotated[
    int | None,
    typer.Option(
        "--threads", help="CPU threads (default: $APRVFI_THREADS, else all).", rich_help_panel=PLACEMENT_PANEL
    ),
]
Fps = Annotated[str | None, typer.Option("--fps", help="Target frame rate: 60, 59.94, 60000/1001.")]
Output = Annotated[Path | None, typer.Option("-o", "--output", help="Output file.")]
Overwrite = Annotated[bool, typer.Option("--overwrite", help="Replace an existing output.")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar or notes.")]
RayAddress = Annotated[
    str | None,
    typer.Option(
        "--ray",
        metavar="ADDRESS",
        help="Run on a Ray cluster: local (start one here), auto (the one `ray start` joined) or "
        "ray://HOST:PORT. Needs the ray extra; inputs and outputs on storage every node sees.",
    ),
]


@dataclass(frozen=True)
class ModelOptions:
    """Which network runs (its weights), how its dynamic blocks route patches, and the resolution
    its flow runs at."""

    weights: Weights = None
    route: Route = None
    flow_scale: FlowScale = "auto"


@dataclass(frozen=True)
class PlacementOptions:
    """Where and how the network runs."""

    device: Device = "auto"
    precision: Precision = "auto"
    threads: Threads = None


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
        str | None,
        typer.Option(
            "--pix-fmt",
            help="Pixel format (default: the source's, or one that fits it).",
            rich_help_panel=ENCODER_PANEL,
        ),
    ] = None
    scene_threshold: Annotated[
        float,
        typer.Option("--scene-threshold", help="Cut threshold (luma MAD, 0-1; 0: off).", rich_help_panel=ENCODER_PANEL),
    ] = 0.1


def load_interpolator(model: ModelOptions, placement: PlacementOptions) -> Interpolator:
    """The one way a command loads the network: :func:`~aprvfi_cli.engine.interpolator.load_model`."""
    from aprvfi_cli.engine.interpolator import load_model

    return load_model(
        model.weights,
        placement.device,
        placement.precision,
        route=model.route,
        threads=placement.threads,
        flow_scale=model.flow_scale,
    )


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
