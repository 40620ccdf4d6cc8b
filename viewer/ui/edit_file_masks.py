"""The masks the editing tool can edit, each with its own undo history, and the
guard for edits of a mask opened from a file.

Edits to a mask opened from a file are not the segmentation session's business
(its Save and unsaved prompt cover the prediction only), so the editing tool
guards them itself: on closing the window or opening another volume it asks
Save / Discard / Cancel, and Save writes a NEW file beside the mask
(``<mask>_edited.nii.gz``), never over the mask that was opened nor over the
input. A mixin of :class:`viewer.ui.edit_tools.MaskEditTool`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PyQt5.QtWidgets import (
    QFileDialog,
    QMessageBox,
)

from viewer.editing import MaskEditor
from viewer.errors import SpleenScopeError
from viewer.io.file_names import NIFTI, edited_mask_path, with_default_suffix

log = logging.getLogger(__name__)


@dataclass
class EditTarget:
    """One mask the user may edit: its array (edited in place) and where it lives."""

    key: str
    title: str
    labels: np.ndarray
    layer_name: str | None  # None: the session's prediction


@dataclass
class History:
    """One edited array's editor and the undo step that was on top when it last
    matched a file (None: as opened), so undoing back to it counts as saved."""

    editor: MaskEditor
    saved_top: object | None = None

    @property
    def unsaved(self) -> bool:
        return _top_step(self.editor) is not self.saved_top

    def mark_saved(self) -> None:
        self.saved_top = _top_step(self.editor)


def _top_step(editor: MaskEditor) -> object | None:
    """The undo step on top of ``editor``'s history (identity marks a mask state)."""
    return editor.top_step


class FileMaskSaving:
    """Unsaved edits of masks opened from files: ask, save beside, never overwrite."""

    # ------------------------------------------------------- file mask saving
    def unsaved_file_masks(self) -> list[str]:
        """Names of the overlay layers (masks opened from files, or a new layer) that
        hold strokes not yet written to a file. The session's prediction is not
        listed: its own Save and prompt cover it."""
        names = []
        for target in self._targets:
            if target.layer_name is None:
                continue
            layer = self.window.overlays.get(target.layer_name)
            history = self._history_of(target.labels)
            if layer is not None and layer.labels is target.labels and history is not None \
                    and history.unsaved:
                names.append(target.layer_name)
        return names

    def confirm_discard_file_edits(self) -> bool:
        """Close guard: True when nothing is unsaved, or the user saved or discarded."""
        names = self.unsaved_file_masks()
        if not names or self.window.headless:
            return True
        listed = ", ".join(f"“{name}”" for name in names)
        answer = QMessageBox.question(
            self.window, "Unsaved mask edits",
            f"The mask {listed} has edits that are not saved. Save them to a new file "
            "(the file it was opened from stays as it is)?",
            QMessageBox.Save | QMessageBox.Discard | QMessageBox.Cancel, QMessageBox.Save)
        if answer == QMessageBox.Save:
            return all(self.save_file_mask(name) is not None for name in names)
        return answer == QMessageBox.Discard

    def save_file_mask(self, layer_name: str | None = None,
                       path: str | Path | None = None) -> Path | None:
        """Write the overlay layer ``layer_name`` (default: the mask being edited) to a
        new NIfTI file on the input's grid; ask where (pre-filled with
        :func:`edited_mask_path`) unless ``path`` is given. Never over the mask it was
        opened from nor over the input. Returns the file, or None (cancelled, error)."""
        window, volume = self.window, self.window.volume
        if layer_name is None:
            target = self.current_target()
            layer_name = target.layer_name if target is not None else None
        layer = window.overlays.get(layer_name) if layer_name else None
        if volume is None or layer is None:
            window.show_error("Choose a mask opened from a file in the Edit panel first.",
                              "Nothing to save")
            return None
        if layer.labels.size and int(layer.labels.max()) > 255:
            window.show_error(f"“{layer_name}” has labels above 255, which a uint8 NIfTI "
                              "cannot hold; it was not saved.", "Could not save the mask")
            return None
        from viewer.io.writers import default_mask_path, save_mask

        source = window.mask_sources.get(layer_name)
        suggested = edited_mask_path(source) if source is not None else default_mask_path(volume)
        overwrite = False
        if path is None:
            chosen, _ = QFileDialog.getSaveFileName(
                window, f"Save edited mask “{layer_name}”", str(suggested),
                NIFTI.dialog_filter())
            if not chosen:
                return None
            path, overwrite = Path(chosen), True  # the dialog asked about replacing
        path = Path(path)
        path = with_default_suffix(path, NIFTI)
        if source is not None and path.resolve() == Path(source).resolve():
            window.show_error(f"{path.name} is the mask that was opened; save the edits "
                              "under another name.", "Could not save the mask")
            return None
        try:
            written = save_mask(volume, layer.labels, path, overwrite=overwrite)
        except (SpleenScopeError, OSError) as error:
            window.show_error(str(error), "Could not save the mask")
            return None
        history = self._history_of(layer.labels)
        if history is not None:
            history.mark_saved()
        window.statusBar().showMessage(f"Saved the edited mask to {written}", 6000)
        self._update_status()
        return written
