"""The boundaries docs/ARCHITECTURE.md draws, checked two ways.

- By importing modules in a clean interpreter: the engine must run on a server with
  no display, so `segmentation/`, `viewer/io/` and the Qt-free half of `viewer/` never
  load Qt, and `spleenscope info` never loads torch, Qt, SimpleITK, ray, matplotlib
  or scipy's numerical parts (heavy imports sit inside functions).
- On the static import graph, with the import-linter contracts in pyproject.toml
  (`make lint` runs them too): they see every import statement, including those
  inside functions, and name the module and line that breaks a rule.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
QT_MODULES = ("PyQt5", "pyqtgraph", "superqt")
#: What `spleenscope info` must not load: each takes seconds or pulls a GPU runtime.
HEAVY_MODULES = ("torch", "PyQt5", "pyqtgraph", "SimpleITK", "ray", "matplotlib")
#: scipy's own parts `info` must not load either (the metrics, the verdict and the
#: evaluation need them). The bare `scipy` package is allowed: nibabel imports it to
#: learn whether it is installed, which loads none of these.
HEAVY_SCIPY = ("scipy.ndimage", "scipy.special", "scipy.sparse", "scipy.spatial",
               "scipy.linalg", "scipy.stats")


def _modules_under(package: str, exclude: tuple[str, ...] = ()) -> list[str]:
    root = REPO / package.replace(".", "/")
    names = []
    for path in sorted(root.rglob("*.py")):
        relative = path.relative_to(REPO).with_suffix("")
        name = ".".join(relative.parts)
        if name.endswith(".__init__"):
            name = name[: -len(".__init__")]
        if any(name == e or name.startswith(e + ".") for e in exclude):
            continue
        names.append(name)
    return names


def _loaded_after_import(modules: list[str]) -> set[str]:
    code = (
        "import importlib, json, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    )
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


@pytest.mark.parametrize(
    "package, exclude",
    [
        ("segmentation", ()),
        ("viewer", ("viewer.ui", "viewer.cli.view")),
    ],
)
def test_engine_and_core_never_import_qt(package, exclude):
    modules = _modules_under(package, exclude)
    assert modules, f"no modules found under {package}"
    loaded = _loaded_after_import(modules)
    assert not loaded & set(QT_MODULES), f"{package} pulls in Qt: {loaded & set(QT_MODULES)}"


def test_segmentation_does_not_import_viewer_widgets():
    loaded_code = (
        "import importlib, sys\n"
        f"for name in {_modules_under('segmentation')!r}:\n"
        "    importlib.import_module(name)\n"
        "print([m for m in sys.modules if m.startswith('viewer.ui')])\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", loaded_code], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_info_command_does_not_load_torch_qt_or_scipy(tmp_path):
    from viewer.phantom import make_phantom

    phantom = make_phantom(spacing=(4.0, 4.0, 4.0))
    path = tmp_path / "phantom.nii.gz"
    phantom.image.to_filename(path)
    code = (
        "import sys\n"
        "from viewer.cli import main\n"
        f"code = main(['info', {str(path)!r}])\n"
        f"heavy = sorted({{m.split('.')[0] for m in sys.modules}} & {set(HEAVY_MODULES)!r})\n"
        f"heavy += sorted({{'.'.join(m.split('.')[:2]) for m in sys.modules}}"
        f" & {set(HEAVY_SCIPY)!r})\n"
        "print('HEAVY', heavy)\n"
        "sys.exit(code)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert "HEAVY []" in out.stdout


def _lint_imports() -> Path:
    command = Path(sys.executable).with_name("lint-imports")
    if not command.exists():
        pytest.skip("import-linter is not installed: pip install -e '.[lint]'")
    return command


def _run_lint_imports(root: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(root))  # analyse the packages under root
    return subprocess.run([str(_lint_imports())], cwd=root, env=env, capture_output=True,
                          text=True, timeout=120)


def test_import_contracts_hold():
    done = _run_lint_imports(REPO)
    assert done.returncode == 0 and "0 broken" in done.stdout, done.stdout[-4000:]


def test_import_contracts_name_a_planted_violation(tmp_path):
    """The contracts are not vacuous: a reader that imports torch and the window, and
    an engine module that imports the CLI, are each reported by module and line."""
    for package in ("viewer", "segmentation"):
        shutil.copytree(REPO / package, tmp_path / package,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    (tmp_path / "viewer" / "io" / "planted.py").write_text(
        "import torch\nfrom viewer.ui import app\n")
    (tmp_path / "segmentation" / "planted.py").write_text("from viewer.cli import main\n")
    done = _run_lint_imports(tmp_path)
    assert done.returncode != 0
    for line in ("viewer.io.planted -> torch (l.1)", "viewer.io.planted -> viewer.ui.app (l.2)",
                 "segmentation.planted -> viewer.cli (l.1)"):
        assert line in done.stdout, done.stdout[-4000:]


ARCHITECTURE_PAGE = REPO / "docs" / "ARCHITECTURE.md"


def test_architecture_page_names_only_files_that_exist():
    """The page is a map of the code: every path it names must be there."""
    text = ARCHITECTURE_PAGE.read_text(encoding="utf-8")
    named = set(re.findall(r"`((?:viewer|segmentation|tests|resources|models|docs)/[\w/.-]*)",
                           text))
    assert len(named) > 30, "the page names too few files to be a map"
    missing = sorted(path for path in named if not (REPO / path.rstrip("/.")).exists())
    assert not missing, f"docs/ARCHITECTURE.md names files that do not exist: {missing}"


def test_code_and_docs_cite_the_architecture_page_that_exists():
    citing = subprocess.run(["git", "grep", "-l", "ARCHITECTURE.md"], cwd=REPO,
                            capture_output=True, text=True).stdout.split()
    if not citing:
        pytest.skip("not a git checkout")
    assert ARCHITECTURE_PAGE.is_file()
    for name in citing:
        if name == "tests/test_architecture.py":  # this file spells the name in pieces
            continue
        text = (REPO / name).read_text(encoding="utf-8")
        for match in re.finditer(r"[\w./-]*ARCHITECTURE\.md", text):
            cited = match.group(0)
            assert cited.endswith("docs/ARCHITECTURE.md") or (
                name.startswith("docs/") and cited == "ARCHITECTURE.md"
            ), f"{name} cites {cited!r}, not docs/ARCHITECTURE.md"


#: The bottom layer (docs/ARCHITECTURE.md, "The layers"): the facts and types every
#: other layer shares. They import only each other, so anything can import them.
FOUNDATIONS = {
    "viewer.errors", "viewer.volume", "viewer.grid", "viewer.atomic", "viewer.log_file",
    "viewer.strict_json", "viewer.package_data", "viewer.io.file_names",
    "segmentation.devices",
}


def test_foundation_modules_import_only_each_other():
    grimp = pytest.importorskip("grimp", reason="grimp comes with import-linter (lint extra)")
    graph = grimp.build_graph("viewer", "segmentation")
    assert FOUNDATIONS <= set(graph.modules), "a foundation module was renamed or removed"
    above = {
        module: sorted(imported - FOUNDATIONS)
        for module in FOUNDATIONS
        if (imported := graph.find_modules_directly_imported_by(module)) - FOUNDATIONS
    }
    assert not above, f"foundation modules import from the layers above them: {above}"
