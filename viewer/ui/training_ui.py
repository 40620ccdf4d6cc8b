"""The Training menu: train a model, manage models, add the open case to the training set.

Built and wired in :mod:`viewer.ui.wiring`. "Add this case to my
training set" saves the open volume with its current mask (the reviewed prediction
of the segmentation tools, else their reference, else a spleen mask opened from a
file) into the user's collection, and starts no training: people correct many cases
first and train once.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
from PyQt5.QtCore import QEvent, QObject
from PyQt5.QtWidgets import QAction, QMessageBox

from viewer.ui.background import run_in_background

log = logging.getLogger(__name__)

REVIEW_LAYER_NAMES = ("prediction", "reference", "difference")


def reviewed_mask(window, session) -> tuple[np.ndarray, str] | None:
    """``(binary mask on the canonical grid, where it came from)``, or None.

    Prefers the segmentation session's prediction (what the user reviewed and maybe
    corrected), then its reference, then an overlay opened from a file: a binary one,
    or the "spleen" label of a multi-label map.
    """
    if window.volume is None:
        return None
    if session is not None:
        if session.prediction is not None:
            name = session.prediction_name or "prediction"
            return np.asarray(session.prediction) > 0, f"the {session.source or 'model'} mask ({name})"
        if session.reference is not None:
            return np.asarray(session.reference) > 0, f"the reference mask ({session.reference_name})"
    for layer in window.overlays:
        if layer.name in REVIEW_LAYER_NAMES:
            continue
        labels = np.asarray(layer.labels)
        spleen = [label for label, name in layer.label_names.items()
                  if str(name).strip().lower() == "spleen"]
        if spleen:
            return labels == int(spleen[0]), f"the spleen label of '{layer.name}'"
        present = np.unique(labels)
        if set(present.tolist()) <= {0, 1} and 1 in present:
            return labels > 0, f"the mask '{layer.name}'"
    return None


class TrainingTools(QObject):
    """The Training menu and the dialogs it opens (one of each per window)."""

    def __init__(self, window, session=None, segmentation_tool=None) -> None:
        super().__init__(window)
        self.window = window
        #: the segmentation session (its prediction is the case to add), or None
        self.session = session
        #: the Segment tool, whose model list follows new and activated models, or None
        self.segmentation_tool = segmentation_tool
        self.training_dialog = None
        self.model_manager = None
        self.last_added: Path | None = None
        menu = window.menu("&Training")
        self.menu = menu
        self.act_train = QAction("&Train model…", window)
        self.act_train.setObjectName("act_train_model")
        self.act_train.triggered.connect(lambda _c=False: self.show_training_dialog())
        self.act_models = QAction("&Model manager…", window)
        self.act_models.setObjectName("act_model_manager")
        self.act_models.triggered.connect(lambda _c=False: self.show_model_manager())
        self.act_add_case = QAction("&Add this case to my training set", window)
        self.act_add_case.setObjectName("act_add_case")
        self.act_add_case.setToolTip("Save the open volume and its reviewed mask for training")
        self.act_add_case.triggered.connect(lambda _c=False: self.add_current_case())
        menu.addAction(self.act_train)
        menu.addAction(self.act_models)
        menu.addSeparator()
        menu.addAction(self.act_add_case)
        window.volume_changed.connect(lambda volume: self.act_add_case.setEnabled(
            volume is not None))
        self.act_add_case.setEnabled(window.volume is not None)
        window.installEventFilter(self)

    # ------------------------------------------------------------------ dialogs
    def show_training_dialog(self):
        from viewer.ui.training_dialog import TrainingDialog

        if self.training_dialog is None:
            dialog = TrainingDialog(self.window)
            dialog.model_saved.connect(lambda _path: self.models_changed())
            dialog.model_activated.connect(lambda _path: self.models_changed())
            dialog.training_finished.connect(self._training_finished)
            self.training_dialog = dialog
        self.training_dialog.show()
        self.training_dialog.raise_()
        return self.training_dialog

    def show_model_manager(self):
        from viewer.ui.model_manager import ModelManagerDialog

        if self.model_manager is None:
            self.model_manager = ModelManagerDialog(self.window)
            self.model_manager.active_changed.connect(lambda _path: self.models_changed())
        else:
            self.model_manager.refresh()
        self.model_manager.show()
        self.model_manager.raise_()
        return self.model_manager

    def _training_finished(self, run) -> None:
        """Bring the dialog back (it may have been closed while training) and say so."""
        dialog = self.training_dialog
        if dialog.saved_model is not None:
            dice = run.best_val_dice
            score = "" if dice is None else f" (validation Dice {dice:.3f})"
            text = f"Training ended: model {dialog.saved_model.stem}{score} saved."
        else:
            text = f"Training ended without a model: {run.error or 'no checkpoint was written'}"
        self.window.statusBar().showMessage(text, 15000)
        if not dialog.isVisible():
            dialog.show()
            dialog.raise_()

    def models_changed(self) -> None:
        """A model was added, activated or deleted: the Segment tool must list it."""
        if self.segmentation_tool is not None:
            self.segmentation_tool.refresh_models()
        if self.model_manager is not None and self.model_manager.isVisible():
            self.model_manager.refresh()
        if self.training_dialog is not None:
            self.training_dialog.refresh_active_model()

    # ------------------------------------------------------------- collection
    def add_current_case(self) -> bool:
        """Save the open volume + its reviewed mask into the collection (in a thread)."""
        window = self.window
        found = reviewed_mask(window, self.session)
        if found is None:
            window.show_error(
                "Open a volume and segment it (or open its spleen mask) first; the case is "
                "saved with the mask you reviewed.", "No mask to add")
            return False
        mask, origin = found
        if not mask.any():
            window.show_error("The mask is empty; a training case needs spleen voxels.",
                              "Empty mask")
            return False
        volume = window.volume
        self.act_add_case.setEnabled(False)
        window.statusBar().showMessage("Adding this case to your training set…")

        def save() -> Path:
            from segmentation.datasets import add_case_to_collection

            return add_case_to_collection(volume, mask.astype(np.uint8))

        def done(path: Path) -> None:
            from segmentation.registry import user_collection_dir

            self.last_added = Path(path)
            self.act_add_case.setEnabled(window.volume is not None)
            count = len(list((user_collection_dir() / "imagesTr").glob("*.nii*")))
            window.statusBar().showMessage(
                f"Added {Path(path).name} with {origin} to your training set "
                f"({count} case{'' if count == 1 else 's'}); train when you are ready.", 10000)
            log.info("added a case to the collection (%d cases)", count)
            if self.training_dialog is not None:
                self.training_dialog.refresh_collection_label()

        def failed(message: str) -> None:
            self.act_add_case.setEnabled(window.volume is not None)
            window.statusBar().clearMessage()
            window.show_error(message, "Could not add the case")

        run_in_background(self, save, done, failed, uses_torch=True)
        return True

    # ------------------------------------------------------------------ closing
    def eventFilter(self, watched, event) -> bool:  # noqa: N802 (Qt's name)
        """Closing the window while a model trains: ask, then end the child process."""
        if watched is self.window and event.type() == QEvent.Close:
            dialog = self.training_dialog
            if dialog is not None and dialog.is_running():
                if not self.window.headless:
                    answer = QMessageBox.question(
                        self.window, "Training is running",
                        "A model is still training. Stop it (the best model so far is kept) "
                        "and close SpleenScope?", QMessageBox.Yes | QMessageBox.No,
                        QMessageBox.No)
                    if answer != QMessageBox.Yes:
                        event.ignore()
                        return True
                dialog.shutdown()
        return False

    def shutdown(self) -> None:
        """End a running training child (the application is quitting)."""
        if self.training_dialog is not None:
            self.training_dialog.shutdown()
