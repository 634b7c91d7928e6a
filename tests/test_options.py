"""Option groups: defined once, added to a command by one helper, handed over as one frozen object."""

from __future__ import annotations

from typing import Annotated

import pytest
import typer
from typer.testing import CliRunner

from aprvfi_cli.cli.options import EncoderOptions, ModelOptions, PlacementOptions, with_options


def test_a_command_receives_its_groups() -> None:
    seen: list[object] = []

    @with_options(model=ModelOptions, placement=PlacementOptions, encoder=EncoderOptions)
    def command(
        name: Annotated[str, typer.Argument()],
        model: ModelOptions,
        placement: PlacementOptions,
        encoder: EncoderOptions,
    ) -> None:
        seen.append((name, model, placement, encoder))

    app = typer.Typer()
    app.command()(command)
    result = CliRunner().invoke(app, ["clip", "--device", "cpu", "--threads", "1", "--crf", "20", "--route", "static"])
    assert result.exit_code == 0, result.output
    assert seen == [
        ("clip", ModelOptions(route="static"), PlacementOptions(device="cpu", threads=1), EncoderOptions(crf=20))
    ]


def test_a_clash_fails_at_definition() -> None:
    with pytest.raises(TypeError, match="device"):

        @with_options(placement=PlacementOptions)
        def command(placement: PlacementOptions, device: str = "x") -> None:
            pass
