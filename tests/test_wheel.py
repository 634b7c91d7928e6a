"""A user's install works: the wheel holds every module and the shipped weights, and installed
into a fresh virtual environment outside the checkout it runs the README's main command."""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import av
import pytest

ROOT = Path(__file__).resolve().parents[1]


def run(*args: object, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, check=False)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel built from a copy of the working tree (the checkout's build/ is never used or written)."""
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("needs the git checkout")
    listed = run("git", "ls-files", "-z", "--cached", "--others", "--exclude-standard", cwd=ROOT)
    assert listed.returncode == 0, listed.stderr
    source = tmp_path_factory.mktemp("source")
    for name in filter(None, listed.stdout.split("\0")):
        if (ROOT / name).is_file() and not name.startswith(("cache/", "runs/")):
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, source / name)
    out = tmp_path_factory.mktemp("wheel")
    built = run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", out, source,
                cwd=out)  # fmt: skip
    assert built.returncode == 0, built.stderr
    return next(out.glob("aprvfi-*.whl"))


def test_the_wheel_holds_every_module_and_the_weights(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    tree = {p.relative_to(ROOT).as_posix() for p in (ROOT / "aprvfi_cli").rglob("*.py")}
    missing = sorted(tree - names)
    assert not missing, f"not in the wheel (list the package in pyproject.toml [tool.setuptools] packages): {missing}"
    for name in ("aprvfi_cli/weights/ebme-bi-flownet.pkl", "aprvfi_cli/weights/EBME-LICENSE"):
        assert name in names
    shipped = {p.name for p in (ROOT / "weights").iterdir() if p.suffix in (".pt", ".pkl")}
    assert {f"aprvfi_cli/weights/{name}" for name in shipped} <= names  # aprvfi-default.pt too, once it ships


def child_venv(venv: Path) -> Path:
    """A fresh virtual environment that sees the packages this interpreter sees (torch, PyAV...),
    behind its own; returns its python.

    ``--system-site-packages`` would not do inside a venv: the child is made from the base
    interpreter and would see the base's site-packages, not this venv's. So the child lists this
    interpreter's site-packages folders in a ``.pth`` file instead (as plain paths: their ``.pth``
    files, an editable install of aprvfi among them, are not read).
    """
    made = run(sys.executable, "-m", "venv", "--without-pip", venv, cwd=venv.parent)
    assert made.returncode == 0, made.stderr
    python = venv / "bin" / "python"
    own = run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])", cwd=venv.parent)
    seen = [p for p in sys.path if Path(p).name in ("site-packages", "dist-packages") and Path(p).is_dir()]
    (Path(own.stdout.strip()) / "parent-site-packages.pth").write_text("".join(f"{p}\n" for p in seen))
    return python


def test_the_child_venv_sees_this_interpreters_packages(tmp_path: Path) -> None:
    python = child_venv(tmp_path / "venv")
    found = run(python, "-c", "import typer, av; print(typer.__file__)", cwd=tmp_path)
    assert found.returncode == 0, found.stderr
    import typer

    assert Path(found.stdout.strip()) == Path(typer.__file__)


def test_installed_wheel_runs_the_readme_command(wheel: Path, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    python = child_venv(venv)
    # --ignore-installed: the venv gets its own copy; the editable install outside it is left alone
    installed = run(sys.executable, "-m", "pip", "--python", python, "install", "-q", "--no-deps", "--no-index",
                    "--ignore-installed", wheel, cwd=tmp_path)  # fmt: skip
    assert installed.returncode == 0, installed.stderr
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "APRVFI_WEIGHTS_DIR")}
    where = run(python, "-c", "import aprvfi_cli; print(aprvfi_cli.__file__)", cwd=tmp_path, env=env)
    assert Path(where.stdout.strip()).is_relative_to(venv), where.stdout + where.stderr
    (tmp_path / "examples").mkdir()
    shutil.copy(ROOT / "examples" / "carphone.mp4", tmp_path / "examples" / "carphone.mp4")
    out = tmp_path / "x.mp4"
    result = run(venv / "bin" / "aprvfi", "convert", "examples/carphone.mp4", "--fps", "59.94", "-o", out,
                 cwd=tmp_path, env=env)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert str(venv) in result.stderr  # the note names the weights it used: the installed ones
    with av.open(str(out)) as container:
        assert container.streams.video[0].frames == 120


# import names whose distribution is named otherwise
DISTRIBUTIONS = {"cv2": "opencv_python_headless"}


def test_every_third_party_import_is_a_declared_dependency() -> None:
    # The development environment has more than a user's install (ray brings click, say): an
    # undeclared import passes every other test here and fails on the user's first command.
    tomllib = pytest.importorskip("tomllib")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = project["dependencies"] + [r for extra in project["optional-dependencies"].values() for r in extra]
    declared = {re.split(r"[<>=!~\[; ]", r, maxsplit=1)[0].lower().replace("-", "_") for r in requirements}
    declared |= {"PIL"} if "pillow" in declared else set()  # Pillow installs as the package PIL
    imported = set()
    for path in (ROOT / "aprvfi_cli").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                imported |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                imported.add(node.module.split(".")[0])
    third_party = imported - set(sys.stdlib_module_names) - {"aprvfi_cli", "__future__"}
    third_party = {DISTRIBUTIONS.get(name, name) for name in third_party}
    assert third_party <= declared, f"imported but not declared in pyproject.toml: {sorted(third_party - declared)}"
