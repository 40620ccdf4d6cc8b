"""Viewer responsiveness: one JSON line of timings (run with QT_QPA_PLATFORM=offscreen).

Measures, at 512 x 512 with the spleen overlay shown (filled):
- a slice change in one view (state change + synchronous repaint of that view), in the
  axial view (``slice_change_one_view_ms``), the coronal and the sagittal view: on a
  tall volume read in Fortran order (DICOM) a sagittal plane is the one scattered
  across memory,
- a crosshair move that changes the slice of all three views (+ repaint),
for the sample CT (512 x 512 x 20) and a 512 x 512 x 600 volume built from it by
repetition; the time to the first picture of ``spleenscope view PATH --mask M
--screenshot`` (a fresh process, so imports count); and a baseline measured in the
same run: pyqtgraph's own cost for ``ImageItem.setImage`` + paint of one 512 x 512
slice in a bare view. Targets: <= 16 ms per view update, <= 50 ms for all three.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from tests.conftest import sample_data_dir  # noqa: E402

REPEATS = 60
FIRST_PICTURE_RUNS = 3


def _stats(samples_s: list[float]) -> dict:
    ms = np.asarray(samples_s) * 1000.0
    return {"median": round(float(np.median(ms)), 2), "p95": round(float(np.percentile(ms, 95)), 2),
            "n": len(ms)}


def _repaint(views) -> None:
    for view in views:
        view.canvas.viewport().repaint()


def _time_window(window, app, volume, labels, rng) -> dict:
    from viewer.overlays import OverlayLayer

    window.set_volume(volume)
    window.set_overlay(OverlayLayer("spleen", labels, label_names={1: "spleen"}))
    app.processEvents()
    views = list(window.views.values())
    per_view = {}
    for name in ("axial", "coronal", "sagittal"):
        one_view = []
        count = window.state.geometry(name).n_slices
        for step in range(REPEATS):  # scrolling: one to three slices on
            index = (window.state.slice_index(name) + 1 + step % 3) % count
            start = time.perf_counter()
            window.go_to_slice(name, index)
            _repaint([window.views[name]])
            one_view.append(time.perf_counter() - start)
        per_view[name] = _stats(one_view)
    all_three = []
    for _ in range(REPEATS):
        target = [int(rng.integers(0, s)) for s in volume.shape]
        start = time.perf_counter()
        window.state.set_cursor_voxel(target)
        _repaint(views)
        all_three.append(time.perf_counter() - start)
    app.processEvents()
    return {"shape": list(volume.shape), "slice_change_one_view_ms": per_view["axial"],
            "slice_change_coronal_ms": per_view["coronal"],
            "slice_change_sagittal_ms": per_view["sagittal"],
            "crosshair_move_all_three_ms": _stats(all_three)}


def _baseline(app, plane: np.ndarray, levels) -> dict:
    import pyqtgraph as pg

    view = pg.GraphicsView()
    box = pg.ViewBox(lockAspect=True)
    view.setCentralItem(box)
    item = pg.ImageItem(axisOrder="col-major")
    box.addItem(item)
    view.resize(683, 430)
    view.show()
    item.setImage(plane, autoLevels=False, levels=levels)
    box.autoRange(padding=0)  # the image must be in view, or paint never runs
    app.processEvents()
    painted = []
    original_paint = item.paint

    def counting_paint(*args) -> None:
        painted.append(1)
        original_paint(*args)

    item.paint = counting_paint
    samples = []
    for step in range(REPEATS):
        data = plane if step % 2 else plane[::-1]
        start = time.perf_counter()
        item.setImage(data, autoLevels=False, levels=levels)
        view.viewport().repaint()
        samples.append(time.perf_counter() - start)
    view.close()
    if len(painted) < REPEATS:
        raise RuntimeError("baseline image item was not painted on every repaint")
    return _stats(samples)


def _first_picture(ct: Path, mask: Path, out: Path) -> dict:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    samples = []
    for _ in range(FIRST_PICTURE_RUNS):
        start = time.perf_counter()
        subprocess.run([sys.executable, "main.py", "view", str(ct), "--mask", str(mask),
                        "--screenshot", str(out)], cwd=REPO, env=env, check=True,
                       capture_output=True)
        samples.append(time.perf_counter() - start)
    return {"median_s": round(statistics.median(samples), 3), "runs": len(samples)}


def main() -> int:
    from PyQt5.QtCore import QSettings

    from viewer.io import load_volume
    from viewer.overlays import load_mask_for_volume
    from viewer.ui.app import create_app
    from viewer.ui.main_window import MainWindow
    from viewer.volume import Volume

    data = sample_data_dir()
    ct_path, mask_path = data / "ct_spleen_dicom", data / "ct_spleen_dicom_label.nii.gz"
    app = create_app()
    settings = QSettings(str(Path("/tmp") / "spleenscope_bench.ini"), QSettings.IniFormat)
    window = MainWindow(settings=settings, with_tools=False)
    window.resize(1600, 1000)
    window.show()
    app.processEvents()
    rng = np.random.default_rng(0)

    ct = load_volume(ct_path)
    labels, _ = load_mask_for_volume(mask_path, ct)
    result = {"benchmark": "view", "window": "1600x1000 offscreen, 2x2 layout, filled overlay"}
    result["baseline_imageitem_setimage_paint_ms"] = _baseline(
        app, ct.array[:, :, 10], (-160.0, 240.0))
    result["sample_ct"] = _time_window(window, app, ct, labels, rng)
    repeats = 600 // ct.shape[2]
    # Keep the memory order the readers give: the DICOM reader fills slices of an
    # F-ordered array, the NIfTI reader returns C order; time both.
    for order, to_order in (("F", np.asfortranarray), ("C", np.ascontiguousarray)):
        big = Volume(array=to_order(np.tile(ct.array, (1, 1, repeats))), affine=ct.affine,
                     modality="CT", window=ct.window, description="sample CT x30")
        big_labels = to_order(np.tile(labels, (1, 1, repeats)))
        result[f"ct_512x512x600_{order}_order"] = _time_window(window, app, big, big_labels, rng)
        del big, big_labels
    window.close()
    result["time_to_first_picture"] = _first_picture(ct_path, mask_path,
                                                     Path("/tmp/spleenscope_bench_shot.png"))
    result["targets_ms"] = {"one_view": 16, "all_three": 50}
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
