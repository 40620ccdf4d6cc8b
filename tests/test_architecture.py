"""The boundaries ARCHITECTURE.md draws, checked by importing modules in a clean interpreter.

The engine must run on a server with no display: `segmentation/`, `viewer/io/` and the
Qt-free half of `viewer/` never import Qt, and `spleenscope info` never loads torch.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
QT_MODULES = ("PyQt5", "pyqtgraph", "superqt")


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


def test_info_command_does_not_load_torch_or_qt(tmp_path):
    from viewer.phantom import make_phantom

    phantom = make_phantom(spacing=(4.0, 4.0, 4.0))
    path = tmp_path / "phantom.nii.gz"
    phantom.image.to_filename(path)
    code = (
        "import sys\n"
        "from viewer.cli import main\n"
        f"code = main(['info', {str(path)!r}])\n"
        "heavy = sorted({m.split('.')[0] for m in sys.modules} & {'torch', 'PyQt5', 'pyqtgraph'})\n"
        "print('HEAVY', heavy)\n"
        "sys.exit(code)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert "HEAVY []" in out.stdout
