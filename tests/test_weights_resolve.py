"""resolve_weights: every weights choice gives a model and its origin; bad files give one domain line."""

from __future__ import annotations

import importlib.resources
from pathlib import Path

import pytest
import torch
from conftest import assert_one_error, pattern

from aprvfi_cli.errors import ModelError, UsageError
from aprvfi_cli.model import APRVFI, ModelConfig
from aprvfi_cli.model.weights import DEFAULT_WEIGHTS, FORMAT, resolve_weights, save_weights, weights_dir
from aprvfi_cli.video.images import write_image


@pytest.fixture(scope="module")
def tiny_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(1)
    path = tmp_path_factory.mktemp("tiny") / "tiny.pt"
    save_weights(path, APRVFI(ModelConfig.tiny()), {"note": "test"})
    return path


def test_shipped_weights_are_found_through_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("APRVFI_WEIGHTS_DIR", raising=False)
    folder = weights_dir()
    assert folder == Path(str(importlib.resources.files("aprvfi_cli.weights")))
    assert (folder / "ebme-bi-flownet.pkl").is_file()


def test_none_is_the_shipped_flow_only_model(use_weights: Path) -> None:
    model, origin = resolve_weights(None)
    assert origin.method == "flow-only" and origin.path == use_weights / "ebme-bi-flownet.pkl"
    assert model.config.name == "paper"
    assert resolve_weights(None, config=ModelConfig.tiny())[0].config.name == "tiny"


def test_none_prefers_the_default_weights_when_they_ship(tmp_path: Path, monkeypatch, tiny_file: Path) -> None:
    (tmp_path / DEFAULT_WEIGHTS).write_bytes(tiny_file.read_bytes())
    monkeypatch.setenv("APRVFI_WEIGHTS_DIR", str(tmp_path))
    model, origin = resolve_weights(None)
    assert origin.method == "model" and origin.path == tmp_path / DEFAULT_WEIGHTS and model.config.name == "tiny"


def test_a_path_to_either_kind_of_file(weights_dir: Path, tiny_file: Path) -> None:
    model, origin = resolve_weights(tiny_file)
    assert origin.method == "model" and model.config.name == "tiny"
    model, origin = resolve_weights(str(weights_dir / "ebme-bi-flownet.pkl"))
    assert origin.method == "flow-only" and "flow-only" in origin.describe()


def payload_of(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)


@pytest.mark.parametrize(
    ("spoil", "reason"),
    [
        (lambda p: {**p, "state_dict": None}, "no state dict"),
        (lambda p: {**p, "config": None}, "no model config"),
        (lambda p: {**p, "config": {**p["config"], "patch_size": "big"}}, "invalid model config"),
        (
            lambda p: {**p, "state_dict": {**p["state_dict"], "router.head.weight": torch.full((1,), float("nan"))}},
            "NaN",
        ),  # fmt: skip
        (
            lambda p: {**p, "state_dict": {k: v[..., :1] if v.dim() == 4 else v for k, v in p["state_dict"].items()}},
            "shape mismatch",
        ),  # fmt: skip
        (lambda p: {"weights": [1, 2, 3]}, "neither aprvfi weights nor EBME"),
    ],
)
def test_bad_files_are_not_valid_weights(tmp_path: Path, tiny_file: Path, spoil, reason: str) -> None:
    bad = tmp_path / "bad.pt"
    torch.save(spoil(payload_of(tiny_file)), bad)
    with pytest.raises(ModelError, match=reason) as caught:
        resolve_weights(bad)
    assert "bad.pt is not a valid weights file" in caught.value.message


def test_ebme_file_with_nan_or_wrong_shapes(tmp_path: Path, weights_dir: Path) -> None:
    state = payload_of(weights_dir / "ebme-bi-flownet.pkl")
    key = next(iter(state))
    for name, value in (("nan.pkl", torch.full_like(state[key], float("nan"))), ("shape.pkl", torch.zeros(1))):
        torch.save({**state, key: value}, tmp_path / name)
        with pytest.raises(ModelError, match=f"{name} is not a valid weights file"):
            resolve_weights(tmp_path / name)


def test_missing_and_unreadable(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="not found") as caught:
        resolve_weights(tmp_path / "nope.pt")
    assert caught.value.subject == "weights"
    (tmp_path / "junk.pt").write_bytes(b"junk" * 100)
    with pytest.raises(ModelError, match="cannot read"):
        resolve_weights(tmp_path / "junk.pt")
    assert FORMAT  # the format tag the valid files carry


@pytest.mark.parametrize("command", ["pair", "eval"])
def test_every_command_reports_a_bad_file_in_one_line(cli, tmp_path: Path, tiny_file: Path, command: str) -> None:
    bad = tmp_path / "bad.pt"
    torch.save({**payload_of(tiny_file), "state_dict": None}, bad)
    a = tmp_path / "a.png"
    write_image(a, pattern(0, width=64, height=48))
    args = ["pair", a, a, "-o", tmp_path / "o.png"] if command == "pair" else ["eval", tmp_path]
    if command == "eval":
        for i in range(3):
            write_image(tmp_path / f"f{i}.png", pattern(i, width=64, height=48))
    assert_one_error(cli(*args, "--weights", bad), 1, "--weights", "bad.pt is not a valid weights file")
