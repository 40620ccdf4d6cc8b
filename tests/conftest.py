"""Shared fixtures: where the sample data lives, and small helpers for temp files.

Sample data is never copied into the repository. Tests find it through the
``SPLEENSCOPE_SAMPLE_DATA`` environment variable, else at ``../shared/data`` beside
the checkout, and skip cleanly when it is absent.
"""

from __future__ import annotations

import gc
import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


def sample_data_dir() -> Path:
    """The sample data folder (it may not exist; check before use)."""
    configured = os.environ.get("SPLEENSCOPE_SAMPLE_DATA")
    if configured:
        return Path(configured)
    return REPO_ROOT.parent / "shared" / "data"


def sample_path(relative: str) -> Path:
    """A path inside the sample data, or ``pytest.skip`` when it is not there."""
    path = sample_data_dir() / relative
    if not path.exists():
        pytest.skip(f"sample data not found: {path}")
    return path


@pytest.fixture(scope="session")
def sample_data() -> Path:
    """The sample data folder; skips the test when it is absent."""
    root = sample_data_dir()
    if not root.is_dir():
        pytest.skip(f"sample data folder not found: {root} (set SPLEENSCOPE_SAMPLE_DATA)")
    return root


@pytest.fixture
def write_bytes(tmp_path: Path):
    """``write_bytes(name, data) -> Path``: a file with given content under tmp_path."""

    def write(name: str, data: bytes) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return path

    return write


# Fixtures that put a Qt application (and so a window system) under a test. Such a
# test is marked ``window``: `make test` runs the whole suite offscreen, then every
# ``window`` test again on a real X server (pytest-xvfb), where partial repaints,
# screen sizes and focus behave as on a desk. Tests without Qt never touch a display.
WINDOW_FIXTURES = frozenset({"qtbot", "qapp"})


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "window: uses a Qt application; runs offscreen and under a real X server"
    )


def pytest_collection_modifyitems(config, items):
    for item in items:
        if WINDOW_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.window)


@pytest.fixture(autouse=True)
def _collect_window_garbage_on_the_gui_thread(request):
    """After a window test, collect its closed windows' garbage here, on the GUI thread.

    Otherwise a later automatic collection may run on a worker thread and free Qt
    objects there, which crashes Qt (the application itself collects only on the GUI
    thread: ``viewer.ui.app.collect_garbage_on_the_gui_thread``).
    """
    yield
    if request.node.get_closest_marker("window") is not None:
        gc.collect()
