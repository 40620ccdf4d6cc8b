"""The files that ship with SpleenScope: presets, colour tables, style sheet, bundled models.

They live in the top-level ``resources/`` and ``models/`` folders of the repository,
which are Python packages (an ``__init__.py`` each) installed with their data files
(``[tool.setuptools.package-data]`` in pyproject.toml). They are found through
:mod:`importlib.resources`, never relative to this file, so a checkout, an editable
install and a plain ``pip install .`` into any folder all find the same files.

Qt-free and torch-free.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from viewer.errors import SpleenScopeError

RESOURCES_PACKAGE = "resources"
MODELS_PACKAGE = "models"


def _package_folder(package: str) -> Path:
    try:
        folder = resources.files(package)
    except ModuleNotFoundError:
        raise SpleenScopeError(
            f"the '{package}' data package is not installed; reinstall SpleenScope "
            "(pip install .) so its presets and bundled models come with it"
        ) from None
    if not isinstance(folder, Path):  # a zip import: the files would need extracting
        raise SpleenScopeError(
            f"the '{package}' data package is inside an archive; install SpleenScope "
            "unpacked (pip install .) so its files can be opened"
        )
    return folder


def resources_dir() -> Path:
    """The folder holding the presets, colour tables, icons and style sheet."""
    return _package_folder(RESOURCES_PACKAGE)


def resource_path(name: str) -> Path:
    """A file in ``resources/`` by name (it may not exist; callers check)."""
    return resources_dir() / name


def read_resource_text(name: str) -> str:
    """The text of a file in ``resources/`` (UTF-8)."""
    return resource_path(name).read_text(encoding="utf-8")


def bundled_models_dir() -> Path:
    """The folder holding the bundled model files and their model cards."""
    return _package_folder(MODELS_PACKAGE)
