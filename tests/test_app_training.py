"""In-app training, end to end: real widgets, a real ``spleenscope train`` child process,
real torch. Data: the sample CT (subsampled 4x in-plane, as NIfTI) and its label, plus
a phantom on another grid, in the Decathlon layout under tmp_path.

Screenshots of the dialog (mid-training and finished) go to tmp_path, and also to
``$SPLEENSCOPE_TEST_SCREENSHOTS`` when that is set, for a person to look at.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from PyQt5.QtWidgets import QMessageBox

from segmentation import registry
from segmentation.datasets import find_cases, validate_cases
from segmentation.model_file import load_model
from tests.conftest import sample_path
from viewer import model_card
from viewer.io import load_volume
from viewer.phantom import make_phantom
from viewer.ui.model_manager import ModelManagerDialog
from viewer.ui.training_dialog import TrainingDialog

#: A training run that takes seconds: tiny network, tiny patches, one CPU thread.
TINY = dict(epochs=1, steps_per_epoch=2, batch_size=2, patch_size=64, base_channels=4,
            depth=2, spacing=4.0, threads=1)


@pytest.fixture(autouse=True)
def isolated_home(tmp_path, monkeypatch):
    """Keep every model, setting and case away from the real user folders."""
    home = tmp_path / "home"
    monkeypatch.setenv("SPLEENSCOPE_HOME", str(home))
    monkeypatch.setenv("SPLEENSCOPE_THREADS", "1")
    yield home
    # a comparison of a new model with the active one may still run: it ends in its test
    from viewer.ui.background import wait_for_all

    wait_for_all(120_000)


@pytest.fixture(scope="module")
def sample_ct():
    """``(volume, canonical label)`` of the sample CT series."""
    volume = load_volume(sample_path("ct_spleen_dicom"))
    label = load_volume(sample_path("ct_spleen_dicom_label.nii.gz"))
    return volume, (np.asarray(label.array) > 0).astype(np.uint8)


def _save(path: Path, array, affine) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(array, affine), path)


@pytest.fixture(scope="module")
def dataset(sample_ct, tmp_path_factory) -> Path:
    """imagesTr/labelsTr: the sample CT at 3.9 mm in-plane and a 5 mm phantom."""
    volume, label = sample_ct
    folder = tmp_path_factory.mktemp("msd")
    affine = volume.affine @ np.diag([4.0, 4.0, 1.0, 1.0])
    _save(folder / "imagesTr" / "ct_0.nii.gz",
          np.asarray(volume.array)[::4, ::4].astype(np.int16), affine)
    _save(folder / "labelsTr" / "ct_0.nii.gz", label[::4, ::4], affine)
    phantom = make_phantom(spacing=(5.0, 5.0, 5.0), field_of_view_mm=(300.0, 250.0, 150.0),
                           axcodes="LPS", noise_hu=10.0, seed=1)
    nib.save(phantom.image, folder / "imagesTr" / "phantom_1.nii.gz")
    nib.save(phantom.mask, folder / "labelsTr" / "phantom_1.nii.gz")
    return folder


def _keep_screenshot(widget, path: Path) -> None:
    assert widget.grab().save(str(path))
    target = os.environ.get("SPLEENSCOPE_TEST_SCREENSHOTS")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(target) / path.name)


def _window(qtbot):
    """A main window with every extension; its worker threads are waited for at teardown
    (a QThread destroyed while running aborts the interpreter)."""
    from PyQt5.QtCore import QThread

    from viewer.ui.main_window import MainWindow

    window = MainWindow()
    window.headless = True
    qtbot.addWidget(window, before_close_func=lambda w: qtbot.waitUntil(
        lambda: not any(t.isRunning() for t in w.findChildren(QThread)), timeout=60_000))
    return window


def _dialog(qtbot, folder: Path | None, dialog: TrainingDialog | None = None,
            **settings) -> TrainingDialog:
    if dialog is None:
        dialog = TrainingDialog()
        qtbot.addWidget(dialog)
    dialog.show()
    dialog.set_data_folder(folder)
    dialog.form.device.setCurrentIndex(dialog.form.device.findData("cpu"))
    dialog.form.advanced_group.setChecked(True)
    values = {**TINY, **settings}
    for name in ("epochs", "steps_per_epoch", "batch_size", "patch_size", "base_channels",
                 "depth", "spacing", "threads"):
        getattr(dialog.form, name).setValue(values[name])
    dialog.form.val_fraction.setValue(0.5)
    dialog.form.model_name.setText(settings.get("name", "tiny_test"))
    return dialog


def test_training_from_the_dialog_finishes_is_listed_and_segments(
        qtbot, dataset, sample_ct, tmp_path):
    window = _window(qtbot)
    window.tools.training_tools.act_train.trigger()
    dialog = _dialog(qtbot, dataset, dialog=window.tools.training_tools.training_dialog)
    assert dialog.isVisible() and dialog.parent() is window
    with qtbot.waitSignal(dialog.training_finished, timeout=180_000):
        qtbot.mouseClick(dialog.start_button, 1)  # Qt.LeftButton
        qtbot.waitUntil(lambda: dialog.is_running(), timeout=60_000)
        assert not dialog.form.epochs.isEnabled() and dialog.stop_button.isEnabled()
        assert not dialog.form.patch_size.isEnabled()  # settings rest while training
        dialog.close()  # training goes on; the dialog comes back when it ends
    assert dialog.isVisible()
    assert window.statusBar().currentMessage().startswith("Training ended: model tiny_test")
    run = dialog.run
    assert run.error is None, (run.error, dialog.stderr_tail)
    assert run.done is not None and run.done.epochs_run == 1 and not run.done.stopped
    assert run.device.startswith("CPU")
    assert run.train_slices > 0 and run.val_slices > 0  # one case each (by-case split)
    # the curves have points, and the widgets show them
    assert len(run.dice_points) == 1 and len(run.loss_points) >= 1
    xs, ys = dialog.panel.dice_curve.getData()
    assert list(ys) == [pytest.approx(run.dice_points[0][1])]
    assert len(dialog.panel.step_loss_curve.getData()[0]) == len(run.loss_points)
    assert dialog.panel.progress.value() == 1000
    assert "Finished after 1 of 1 epochs" in dialog.panel.status_label.text()
    assert dialog.form.data_status.text() == "2 cases found; all usable"

    # the model was moved into the user's folder with its card, staging is empty
    saved = dialog.saved_model
    assert saved == registry.user_models_dir() / "tiny_test.pt" and saved.is_file()
    assert not list((registry.user_models_dir() / "_training").glob("*"))
    card = model_card.read_card(saved)
    assert card["data"]["case_names"] == ["ct_0", "phantom_1"]
    assert card["settings"]["epochs"] == 1 and card["run"]["ended"] == "finished"
    assert load_model(saved).metadata["card"]["metrics"]["val_dice"] == pytest.approx(
        run.best_val_dice)
    assert model_card.card_markdown_path(saved).is_file()

    # asked whether to make it active, once both models are compared (in the background);
    # Yes makes it the model the next Segment uses
    qtbot.waitUntil(lambda: dialog.activate_box is not None, timeout=120_000)
    box = dialog.activate_box
    assert box is not None and box.isVisible() and "tiny_test" in box.text()
    _keep_screenshot(dialog, tmp_path / "training_dialog_finished.png")
    with qtbot.waitSignal(dialog.model_activated):
        box.button(QMessageBox.Yes).click()
    assert registry.active_model_path() == saved.resolve()
    assert dialog.form.start_from.itemData(1) == str(saved.resolve())

    # the model manager lists it beside the bundled one, active, with its Dice
    manager = window.tools.training_tools.show_model_manager()
    assert isinstance(manager, ModelManagerDialog)
    qtbot.waitUntil(lambda: not manager.is_listing(), timeout=30_000)  # read in the background
    row = manager.row_of(saved)
    assert row >= 0
    assert manager.table.item(row, 0).text() == "●"
    assert manager.table.item(row, 2).text() == f"{run.best_val_dice:.3f}"
    assert manager.table.item(row, 4).text() == "2 cases, " + dataset.name
    assert manager.table.item(row, 5).text() == "yours"
    manager.select(saved)
    _keep_screenshot(manager, tmp_path / "model_manager.png")

    # and segments the sample: a mask on the sample's own grid, made by the new model
    from segmentation.inference import segment_volume

    volume, _label = sample_ct
    result = segment_volume(volume, model=None, device="cpu")
    assert Path(result.model_path).resolve() == saved.resolve()
    assert result.model_name == "tiny_test"
    assert result.mask.shape == volume.shape and result.mask.dtype == np.uint8
    assert set(np.unique(result.mask).tolist()) <= {0, 1}

    # in the window, the Segment tool now offers the new model as its choice
    tool = getattr(window, "segmentation_tool", None)
    if tool is not None:
        qtbot.waitUntil(lambda: tool.options.chosen_model() == str(saved.resolve()),
                        timeout=30_000)
        window.set_volume(load_volume(dataset / "imagesTr" / "ct_0.nii.gz"))
        with qtbot.waitSignal(tool.finished, timeout=60_000) as outcome:
            assert tool.start(device="cpu")
        assert outcome.args == ["done"]
        assert Path(window.tools.mask_session.model["path"]).resolve() == saved.resolve()
        assert window.tools.mask_session.prediction.shape == window.volume.shape


def test_stop_ends_the_child_within_seconds_and_keeps_a_loadable_model(
        qtbot, dataset, tmp_path):
    dialog = _dialog(qtbot, dataset, epochs=500, name="stopped")
    dialog.start()
    # let it learn for a few epochs, so the curves have a shape in the screenshot
    qtbot.waitUntil(lambda: len(dialog.run.dice_points) >= 3, timeout=180_000)
    assert dialog.is_running()
    assert "Epoch" in dialog.panel.status_label.text() and "of 500" in dialog.panel.status_label.text()
    assert "left" in dialog.panel.status_label.text()
    _keep_screenshot(dialog, tmp_path / "training_dialog_running.png")
    pid = dialog.child.pid
    stopped_at = time.monotonic()
    with qtbot.waitSignal(dialog.training_finished, timeout=30_000):
        qtbot.mouseClick(dialog.stop_button, 1)
    seconds = time.monotonic() - stopped_at
    assert seconds < 10, f"Stop took {seconds:.1f} s"
    assert not dialog.is_running()
    assert dialog.child.exit_code == 0 and not dialog.child.crashed  # SIGTERM handled
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    run = dialog.run
    assert run.done is not None and run.done.stopped and run.done.epochs_run < 500
    assert dialog.saved_model is not None
    loaded = load_model(dialog.saved_model)
    assert loaded.val_dice == pytest.approx(run.best_val_dice, abs=1e-4)
    assert model_card.read_card(dialog.saved_model)["run"]["ended"] == "stopped by the user"
    # No keeps the previous active model
    qtbot.waitUntil(lambda: dialog.activate_box is not None, timeout=120_000)
    dialog.activate_box.button(QMessageBox.No).click()
    assert registry.active_model_path() == registry.bundled_model_path()


def test_kill_after_grace_when_the_child_ignores_stop(qtbot, dataset):
    dialog = _dialog(qtbot, dataset, epochs=500, name="killed")
    dialog.kill_grace_ms = 200
    dialog.start()
    qtbot.waitUntil(lambda: dialog.run.epochs > 0, timeout=120_000)
    # a child stuck in a long step: stop it (SIGSTOP) so SIGTERM cannot be handled
    os.kill(dialog.child.pid, 19)
    with qtbot.waitSignal(dialog.training_finished, timeout=20_000):
        dialog.stop()
    assert dialog.child.crashed
    assert dialog.run.error is not None and "stopped" in dialog.run.error


def _bad_dataset(folder: Path, kind: str) -> Path:
    phantom = make_phantom(spacing=(6.0, 6.0, 6.0), field_of_view_mm=(240.0, 200.0, 120.0))
    image, mask = phantom.image, phantom.mask
    nib.save(image, folder / "imagesTr" / "case_a.nii.gz") if (
        (folder / "imagesTr").mkdir(parents=True) or True) else None
    (folder / "labelsTr").mkdir()
    if kind == "grid":
        coarse = make_phantom(spacing=(8.0, 8.0, 8.0), field_of_view_mm=(240.0, 200.0, 120.0))
        nib.save(coarse.mask, folder / "labelsTr" / "case_a.nii.gz")
    elif kind == "missing":
        nib.save(mask, folder / "labelsTr" / "case_a.nii.gz")
        nib.save(image, folder / "imagesTr" / "case_b.nii.gz")
    elif kind == "values":
        labels = np.asarray(mask.dataobj).astype(np.uint8)
        labels[:8] = np.arange(8).reshape(8, 1, 1)
        nib.save(nib.Nifti1Image(labels, mask.affine), folder / "labelsTr" / "case_a.nii.gz")
    return folder


@pytest.mark.parametrize("kind, expected", [
    ("grid", "label shape"),
    ("missing", "case_b has no label"),
    ("values", "label values 0, 1, 2, 3, 4, 5"),
])
def test_invalid_data_lists_the_problems_and_does_not_start(qtbot, tmp_path, kind, expected):
    dialog = _dialog(qtbot, _bad_dataset(tmp_path / kind, kind))
    qtbot.mouseClick(dialog.start_button, 1)
    qtbot.waitUntil(lambda: dialog.form.problem_list.isVisible(), timeout=30_000)
    problems = [dialog.form.problem_list.item(i).text() for i in range(dialog.form.problem_list.count())]
    assert any(expected in problem for problem in problems), problems
    assert dialog.child is None and not dialog.is_running()
    assert dialog.start_button.isEnabled()
    assert not dialog.form.data_status.text().endswith("all usable")
    if kind == "values":
        _keep_screenshot(dialog, tmp_path / "training_dialog_problems.png")


def test_empty_collection_is_refused_with_a_reason(qtbot):
    dialog = _dialog(qtbot, None)
    assert dialog.form.source_collection.isChecked()
    assert "0 cases" in dialog.form.source_collection.text()
    dialog.start()
    qtbot.waitUntil(lambda: dialog.form.problem_list.isVisible(), timeout=30_000)
    assert "no training cases found" in dialog.form.problem_list.item(0).text()
    assert dialog.child is None


def test_model_manager_deletes_user_models_after_confirmation_never_the_bundled(
        qtbot, dataset, tmp_path):
    # a user model made the way the dialog makes one (real training, tiny)
    from segmentation.training import TrainConfig, train

    staging = model_card.staging_dir(registry.user_models_dir()) / "mine.pt"
    train(find_cases(dataset)[1:], TrainConfig(epochs=1, steps_per_epoch=1, batch_size=2,
                                               patch_size=64, base_channels=4, depth=2,
                                               target_spacing_mm=4.0, device="cpu"), staging)
    data = model_card.describe_data("collection", None, ["phantom_1"])
    path = model_card.finalize_trained_model(staging, registry.user_models_dir(), "mine", data,
                                             {"epochs": 1}, {"epochs_run": 1})
    registry.set_active_model(path)
    manager = ModelManagerDialog()
    qtbot.addWidget(manager)
    manager.show()
    qtbot.waitUntil(lambda: not manager.is_listing(), timeout=30_000)  # read in the background
    bundled_row = next(i for i, e in enumerate(manager.entries) if e.is_bundled)
    manager.table.selectRow(bundled_row)
    assert not manager.delete_button.isEnabled()
    assert manager.delete_selected() is False
    assert registry.bundled_model_path().is_file()

    assert manager.select(path)
    assert manager.table.item(manager.row_of(path), 4).text() == "1 case, your training set"
    assert "phantom_1" in manager.details.text()
    manager.delete_selected()
    manager.confirm_box.button(QMessageBox.Cancel).click()
    assert path.is_file()
    manager.delete_selected()
    with qtbot.waitSignal(manager.active_changed):
        manager.confirm_box.button(QMessageBox.Yes).click()
    assert not path.exists() and not model_card.card_json_path(path).exists()
    assert manager.row_of(path) == -1
    # the deleted model was active: the bundled one is active again
    assert registry.active_model_path() == registry.bundled_model_path()
    assert manager.table.item(manager.row_of(registry.bundled_model_path()), 0).text() == "●"


def test_add_this_case_writes_a_valid_pair_into_the_collection(qtbot, dataset, tmp_path):
    window = _window(qtbot)
    tools = window.tools.training_tools
    titles = [a.text().replace("&", "") for a in tools.menu.actions() if a.text()]
    assert titles == ["Train model…", "Model manager…", "Add this case to my training set"]
    assert not tools.act_add_case.isEnabled()  # nothing open

    image = dataset / "imagesTr" / "ct_0.nii.gz"
    window.set_volume(load_volume(image))
    assert tools.add_current_case() is False  # no mask yet: says so, writes nothing
    assert "mask" in window.last_error
    window.open_mask(dataset / "labelsTr" / "ct_0.nii.gz")
    expected = int(window.overlays.get("ct_0").labels.sum())
    tools.act_add_case.trigger()
    qtbot.waitUntil(lambda: tools.last_added is not None, timeout=30_000)
    collection = registry.user_collection_dir()
    assert tools.last_added == collection / "imagesTr" / "case_001.nii.gz"
    cases = find_cases(collection)
    assert [c.name for c in cases] == ["case_001"]
    assert validate_cases(cases) == []
    label = load_volume(cases[0].label)
    assert int(np.asarray(label.array).sum()) == expected
    assert np.allclose(label.affine, window.volume.affine)
    assert "training set (1 case)" in window.statusBar().currentMessage()
    assert not list(registry.user_models_dir().glob("*.pt"))  # no training started

    # a reviewed prediction of the segmentation tools wins over a mask opened from a file
    session = getattr(window, "mask_session", None)
    count = 1
    if session is not None:
        from scipy import ndimage

        reviewed = ndimage.binary_erosion(window.overlays.get("ct_0").labels > 0)
        session.set_prediction(reviewed.astype(np.uint8), source="model", name="edited")
        tools.last_added = None
        tools.act_add_case.trigger()
        qtbot.waitUntil(lambda: tools.last_added is not None, timeout=30_000)
        second = find_cases(collection)[1]
        assert second.name == "case_002"
        saved = np.asarray(load_volume(second.label).array)
        assert int(saved.sum()) == int(reviewed.sum()) < expected
        assert "(edited)" in window.statusBar().currentMessage()
        count = 2

    # the dialog offers the collection with its new cases
    dialog = tools.show_training_dialog()
    assert f"{count} case" in dialog.form.source_collection.text()


def test_fine_tuning_the_active_model_keeps_its_architecture(qtbot, dataset):
    bundled = registry.bundled_model_path()
    if not bundled.is_file():
        pytest.skip("no bundled model in models/")
    dialog = _dialog(qtbot, dataset, name="tuned")
    index = dialog.form.start_from.findData(str(bundled))
    assert index == 1 and "Fine-tune the active model" in dialog.form.start_from.itemText(index)
    dialog.form.start_from.setCurrentIndex(index)
    assert not dialog.form.base_channels.isEnabled() and dialog.form.patch_size.isEnabled()
    assert dialog.settings().init_from == bundled
    with qtbot.waitSignal(dialog.training_finished, timeout=180_000):
        dialog.start()
    assert dialog.run.error is None, (dialog.run.error, dialog.stderr_tail)
    tuned = load_model(dialog.saved_model)
    parent = load_model(bundled)
    assert tuned.config == parent.config  # preprocessing + architecture of the parent
    card = model_card.read_card(dialog.saved_model)
    assert card["settings"]["fine_tuned_from"] == bundled.name
    assert "fine-tuned from" in model_card.card_markdown_path(dialog.saved_model).read_text()


def test_closing_the_window_ends_a_running_training(qtbot, dataset):
    window = _window(qtbot)  # headless: no "stop training?" question
    dialog = _dialog(qtbot, dataset, dialog=window.tools.training_tools.show_training_dialog(),
                     epochs=500, name="closing")
    dialog.start()
    qtbot.waitUntil(lambda: dialog.run.epochs > 0, timeout=120_000)
    pid = dialog.child.pid
    dialog.close()  # closing the dialog only hides it: training goes on
    assert dialog.is_running()
    from PyQt5.QtCore import QThread

    # let the window's own start-up work end first (its thread must not outlive it)
    qtbot.waitUntil(lambda: not any(t.isRunning() for t in window.findChildren(QThread)),
                    timeout=60_000)
    window.close()
    assert not dialog.is_running()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
