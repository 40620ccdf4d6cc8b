"""File > Survey folder… in the real window: the table fills, sorts by number, tints the
rows that stand out, and a double click opens that series in the viewer."""

from __future__ import annotations

import shutil

import pytest
from PyQt5.QtCore import QSettings, Qt
from PyQt5.QtWidgets import QFileDialog

from viewer.survey.rows import COLUMNS
from viewer.ui.background import wait_for_all
from viewer.ui.main_window import MainWindow
from viewer.ui.survey_dialog import FLAGGED_BACKGROUND


@pytest.fixture
def window(qtbot, tmp_path):
    win = MainWindow(settings=QSettings(str(tmp_path / "s.ini"), QSettings.IniFormat))
    qtbot.addWidget(win)
    yield win
    wait_for_all()


def test_survey_folder_lists_sorts_and_opens_a_series(
    qtbot, window, sample_data, tmp_path, monkeypatch
):
    folder = tmp_path / "data"
    shutil.copytree(sample_data / "dicom_edge", folder / "dicom_edge")
    shutil.copytree(sample_data / "ct_spleen_dicom", folder / "ct")
    tool = window.tools.survey_tool
    assert tool is not None
    file_actions = [a.text().replace("&", "") for a in window.menu("&File").actions()]
    assert "Survey folder…" in file_actions
    dialog = tool.survey(folder)
    qtbot.waitUntil(lambda: dialog.survey is not None, timeout=60_000)
    table = dialog.table
    paths = [table.item(r, 0).text() for r in range(table.rowCount())]
    assert paths == sorted(paths) and table.rowCount() == 13  # 11 DICOM series, 2 NIfTI files
    assert "ct" in paths and "dicom_edge/gantrytilting" in paths
    # sort by slice count (shape), largest first: the 20-slice CT is the top row
    table.sortItems(COLUMNS.index("shape"), Qt.DescendingOrder)
    assert table.item(0, 0).text() == "ct"
    # sort by slice step as numbers, not text: 5 mm (tilted CT) after 0.5 mm and 2 mm
    step = COLUMNS.index("slice_step_mm")
    table.sortItems(step, Qt.AscendingOrder)
    steps = [float(table.item(r, step).text()) for r in range(table.rowCount())]
    assert steps == sorted(steps)
    tilted = paths.index("dicom_edge/gantrytilting")
    tilted_row = next(
        r for r in range(table.rowCount()) if table.item(r, 0).text() == paths[tilted]
    )
    assert table.item(tilted_row, 0).background().color() == FLAGGED_BACKGROUND
    assert "gantry tilt" in table.item(tilted_row, COLUMNS.index("flags")).text()
    ct_row = next(r for r in range(table.rowCount()) if table.item(r, 0).text() == "ct")
    assert table.item(ct_row, 0).background().color() != FLAGGED_BACKGROUND
    # Save report… writes the same self-contained HTML as the CLI
    report = tmp_path / "report.html"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(report), ""))
    dialog.save_button.click()
    assert report.read_text().count("data:image/png;base64,") == 3
    # a double click opens that series in the viewer
    with qtbot.waitSignal(window.volume_changed, timeout=60_000):
        table.cellDoubleClicked.emit(ct_row, 0)
    assert window.volume is not None and window.volume.shape == (512, 512, 20)
    assert window.volume.modality == "CT"
    dialog.close()
