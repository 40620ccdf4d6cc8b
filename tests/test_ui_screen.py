"""The window on a real X screen (a private Xvfb): what offscreen grabs cannot see."""

from __future__ import annotations

import pytest

from tests.conftest import sample_path
from tests.screen_support import open_view_and_close, run_probe


def test_moving_the_crosshair_leaves_no_old_lines_on_screen():
    """A drag across the axial view moves the vertical crosshair line of the coronal
    and sagittal views; the black band above their image must show that one line,
    not a fan of the lines it was before (the X server keeps what is not repainted)."""
    sample_path("ct_spleen_dicom")
    found = run_probe("ghosts")
    for view in ("coronal", "sagittal"):
        seen = found[view]
        assert seen["band_rows"] > 40, seen  # the band is there to look at
        assert len(seen["line_columns"]) == 1, f"{view}: stale lines on screen: {seen}"
        assert seen["line_columns"][0] == pytest.approx(seen["crosshair_x"], abs=3), seen


def test_window_fits_a_small_screen_and_remembers_its_size(tmp_path):
    """On a 1280 x 800 screen the window opens inside it (docks and status bar
    visible); the size the user gave it last time comes back at the next start."""
    first = open_view_and_close(tmp_path, (1280, 800), resize_to=(1000, 700))
    assert first["exit_code"] == 0
    assert first["width"] <= 0.9 * 1280 + 1 and first["height"] <= 0.9 * 800 + 1, first
    assert first["x"] >= 0 and first["y"] >= 0
    assert first["x"] + first["width"] <= 1280 and first["y"] + first["height"] <= 800, first
    second = open_view_and_close(tmp_path, (1280, 800))
    assert (second["width"], second["height"]) == (1000, 700), second
