"""The layout is the architecture: no module imports a layer above its own (function-level imports included),
and only the command line (``aprvfi_cli/cli/``) imports Typer or writes to the terminal with rich."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "aprvfi_cli"

# lower imports nothing higher; equal ranks only within a unit or for the pairs below
RANK = {
    "errors": 0, "runtime": 0,
    "placement": 1, "ops": 1,
    "model": 2, "video": 2,
    "engine": 3, "data": 3,
    "eval": 4, "train": 4,
    "cluster": 5,
    "cli": 6,
}  # fmt: skip
SIBLINGS = {("train", "eval")}
TERMINAL = ("typer", "rich", "click")  # the command line's own libraries


def unit(module: str) -> str:
    """``aprvfi_cli.engine.stream`` -> ``engine``; ``aprvfi_cli.cli`` -> ``cli``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "aprvfi_cli"


def imports(path: Path, prefix: tuple[str, ...] = ("aprvfi_cli",)) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith(prefix):
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.startswith(prefix)}
    return found


def test_no_module_imports_a_layer_above() -> None:
    wrong = []
    for path in sorted(PACKAGE.rglob("*.py")):
        module = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts).removesuffix(".__init__")
        source = unit(module)
        if source == "aprvfi_cli" or source == "weights":  # the package root only re-exports the engine's API
            continue
        assert source in RANK, f"{module}: a new layer; give it a rank in tests/test_layers.py"
        for target in {unit(name) for name in imports(path)} - {source, "aprvfi_cli"}:
            allowed = RANK[target] < RANK[source] or (source, target) in SIBLINGS
            if not allowed:
                wrong.append(f"{module} imports {target}")
    assert not wrong, wrong


def test_only_the_command_line_imports_typer_or_rich() -> None:
    wrong = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if "cli" in path.relative_to(PACKAGE).parts[:1]:
            continue
        wrong += [f"{path.relative_to(PACKAGE)} imports {name}" for name in sorted(imports(path, TERMINAL))]
    assert not wrong, wrong
