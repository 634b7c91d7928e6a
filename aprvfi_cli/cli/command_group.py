"""The Typer app every command group is: plain help, its options under their panels.

Help is formatted without rich (rich's help formatter alone costs about as much as importing
Typer), so ``aprvfi --help`` stays instant; a command's options are listed under the panel its
option group names (Model, Placement, Encoder), the command's own under "Options".
"""

from __future__ import annotations

from typing import Any

import typer
from typer.core import TyperCommand, TyperGroup


def _help_flag(option: Any) -> Any:
    """A help flag that is not given reads False, not None: Typer coerces a None through pydantic,
    which costs a command's ``--help`` as much again as importing Typer (its parent's flag is read too)."""
    if option is not None and option.default is None:
        option.default = False
    return option


class PanelCommand(TyperCommand):
    """A command whose plain help lists its options by panel."""

    def get_help_option(self, ctx: Any) -> Any:
        return _help_flag(super().get_help_option(ctx))

    def format_options(self, ctx: Any, formatter: Any) -> None:
        arguments: list[tuple[str, str]] = []
        panels: dict[str, list[tuple[str, str]]] = {"Options": []}
        for param in self.get_params(ctx):
            record = param.get_help_record(ctx)
            if record is None:
                continue
            if param.param_type_name == "argument":
                arguments.append(record)
            else:
                panels.setdefault(getattr(param, "rich_help_panel", None) or "Options", []).append(record)
        sections = ([("Arguments", arguments)] if arguments else []) + list(panels.items())
        for title, records in sections:
            if records:
                with formatter.section(
                    title if title.endswith("ptions") or title == "Arguments" else f"{title} options"
                ):
                    formatter.write_dl(records)


class PanelGroup(TyperGroup):
    """A group (``aprvfi``, ``aprvfi data``...) whose help flag costs nothing when not given."""

    def get_help_option(self, ctx: Any) -> Any:
        return _help_flag(super().get_help_option(ctx))


class CommandGroup(typer.Typer):
    """``aprvfi`` and each of its groups (``data``, ``train``): ``@group.command()`` adds a command.

    Its commands are :class:`PanelCommand`; the group prints its help with no arguments.
    """

    def __init__(self, **settings: Any) -> None:
        settings.setdefault("no_args_is_help", True)
        super().__init__(
            cls=PanelGroup, rich_markup_mode=None, add_completion=False, pretty_exceptions_enable=False, **settings
        )

    def command(self, *args: Any, cls: type[TyperCommand] = PanelCommand, **settings: Any) -> Any:
        return super().command(*args, cls=cls, **settings)
