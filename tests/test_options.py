"""Option groups: defined once, added to a command by one helper, handed over as one frozen object."""

from __future__ import annotations

from typing import Annotated

import pytest
import typer
from typer.testing import CliRunner

from aprvfi_cli.options import EncoderOptions, ModelOptions, with_options


def test_a_command_receives_its_groups() -> None:
    seen: list[object] = []

    @with_options(model=ModelOptions, encoder=EncoderOptions)
    def command(name: Annotated[str, typer.Argument()], model: ModelOptions, encoder: EncoderOptions) -> None:
        seen.append((name, model, encoder))

    app = typer.Typer()
    app.command()(command)
    result = CliRunner().invoke(app, ["clip", "--device", "cpu", "--threads", "1", "--crf", "20"])
    assert result.exit_code == 0, result.output
    assert seen == [("clip", ModelOptions(device="cpu", threads=1), EncoderOptions(crf=20))]


def test_a_clash_fails_at_definition() -> None:
    with pytest.raises(TypeError, match="device"):

        @with_options(model=ModelOptions)
        def command(model: ModelOptions, device: str = "x") -> None:
            pass
