"""Saving masks and reports, and never losing an unsaved mask.

- Save mask (Ctrl+S) writes NIfTI uint8 on the grid of the file the user opened
  (:func:`viewer.io.writers.save_mask`: same shape and affine as a NIfTI input, the
  series' geometry for DICOM), by default beside the input with a ``_seg`` suffix;
  the writer refuses to write over the input and renames a finished temp file
  into place.
- Export: a report (JSON or CSV, :mod:`viewer.reports`, no identifying values) and
  the window's screenshot.
- An unsaved mask makes closing the window, opening another volume or segmenting
  again ask Save / Discard / Cancel; meanwhile :class:`~viewer.ui.mask_session.MaskSession`
  keeps a recovery copy, which the next start offers back (:mod:`viewer.recovery`).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from PyQt5.QtCore import QObject, QTimer
from PyQt5.QtWidgets import QAction, QFileDialog, QMessageBox

from viewer import recovery
from viewer.errors import SpleenScopeError
from viewer.io.file_names import (
    DICOM,
    NIFTI,
    format_of,
    is_nifti_name,
    mask_path_beside,
    with_default_suffix,
)
from viewer.io.writers import default_mask_path, save_mask
from viewer.reports import build_report, write_report

log = logging.getLogger(__name__)

NIFTI_FILTER = NIFTI.dialog_filter()
DICOM_SEG_FILTER = f"DICOM SEG (*{DICOM.default_suffix})"
REPORT_FILTERS = "JSON report (*.json);;CSV report (*.csv)"


class SavingTool(QObject):
    """File ▸ Save mask / Export, the unsaved-mask guard and recovery at start."""

    def __init__(self, window, session) -> None:
        super().__init__(window)
        self.window = window
        self.session = session
        self.last_saved: Path | None = None
        self.last_report: Path | None = None
        self._pending_recovery: recovery.RecoveryEntry | None = None
        session.guard = self.confirm_unsaved
        window.add_close_guard(self.confirm_unsaved)
        self._build_actions()
        session.dirty_changed.connect(lambda _dirty: self._update_actions())
        session.prediction_changed.connect(self._update_actions)
        window.volume_changed.connect(self._volume_changed)
        self._update_actions()
        QTimer.singleShot(0, self.offer_recovery)

    def _build_actions(self) -> None:
        window = self.window
        self.act_save = QAction("&Save mask", window)
        self.act_save.setShortcut("Ctrl+S")
        self.act_save.triggered.connect(lambda _c=False: self.save())
        self.act_save_as = QAction("Save mask &as…", window)
        self.act_save_as.setShortcut("Ctrl+Shift+S")
        self.act_save_as.triggered.connect(lambda _c=False: self.save(ask=True))
        self.act_save_seg = QAction("Save mask as &DICOM SEG…", window)
        self.act_save_seg.setToolTip("A DICOM Segmentation object that references the open "
                                     "series (de-identified); for PACS and other viewers")
        self.act_save_seg.triggered.connect(lambda _c=False: self.save_dicom_seg())
        self.act_report = QAction("Export &report (JSON / CSV)…", window)
        self.act_report.setShortcut("Ctrl+E")
        self.act_report.triggered.connect(lambda _c=False: self.export_report())
        self.act_recover = QAction("Recover unsaved masks…", window)
        self.act_recover.triggered.connect(lambda _c=False: self.offer_recovery(manual=True))
        actions = (self.act_save, self.act_save_as, self.act_save_seg, self.act_report)
        for action in (*actions, self.act_recover):
            window.addAction(action)
        file_menu = window.menu("&File")
        before = window.act_screenshot
        for action in actions:
            file_menu.insertAction(before, action)
        file_menu.insertAction(before, self.act_recover)
        file_menu.insertSeparator(before)
        window.toolbar.addAction(self.act_save)

    def _update_actions(self) -> None:
        has_mask = self.session.prediction is not None and self.window.volume is not None
        self.act_save.setEnabled(has_mask)
        self.act_save_as.setEnabled(has_mask)
        self.act_save_seg.setEnabled(has_mask and is_dicom_input(self.window.volume))
        self.act_report.setEnabled(has_mask)
        title = self.window.windowTitle().rstrip(" *")
        self.window.setWindowTitle(title + (" *" if self.session.dirty else ""))

    # ------------------------------------------------------------------ saving
    def save(self, path: str | Path | None = None, ask: bool = False) -> bool:
        """Write the mask; asks where when ``ask`` or no ``path`` and never saved.

        Returns True when the file was written.
        """
        volume, mask = self.window.volume, self.session.prediction
        if volume is None or mask is None:
            self.window.show_error("There is no mask to save. Segment or open one first.",
                                   "Nothing to save")
            return False
        overwrite = path is not None
        if path is None:
            saved = self.session.saved_path
            again = (bool(saved) and self.session.source == "model"
                     and is_nifti_name(saved))  # not a DICOM SEG
            default = Path(saved) if again else default_mask_path(volume)
            if ask or not again:
                chosen, _ = QFileDialog.getSaveFileName(self.window, "Save spleen mask",
                                                        str(default), NIFTI_FILTER)
                if not chosen:
                    return False
                path = with_default_suffix(chosen, NIFTI)
            else:
                path = default
            overwrite = True  # the file dialog has asked about replacing
        try:
            written = save_mask(volume, mask, path, overwrite=overwrite)
        except (SpleenScopeError, OSError) as error:
            self.window.show_error(str(error), "Could not save the mask")
            return False
        self.last_saved = written
        self.session.mark_saved(str(written))
        self.window.statusBar().showMessage(f"Saved mask to {written}", 8000)
        return True

    def save_dicom_seg(self, path: str | Path | None = None) -> bool:
        """Write the mask as a DICOM SEG referencing the open series (DICOM input only).

        Asks where when ``path`` is None (default: beside the input, ``_seg.dcm``).
        Returns True when the file was written.
        """
        from viewer.io.dicom_seg_writer import save_mask_as_dicom_seg

        volume, session = self.window.volume, self.session
        if volume is None or session.prediction is None:
            self.window.show_error("There is no mask to save. Segment or open one first.",
                                   "Nothing to save")
            return False
        if not is_dicom_input(volume):
            self.window.show_error("A DICOM SEG needs a DICOM series to reference; this image "
                                   "is NIfTI, so save the mask as NIfTI instead.",
                                   "Not a DICOM series")
            return False
        overwrite = False
        if path is None:
            default = mask_path_beside(volume.source_path, DICOM)
            chosen, _ = QFileDialog.getSaveFileName(self.window, "Save spleen mask as DICOM SEG",
                                                    str(default), DICOM_SEG_FILTER)
            if not chosen:
                return False
            path = with_default_suffix(chosen, DICOM)
            overwrite = True  # the file dialog has asked about replacing
        algorithm = (session.model or {}).get("name") if session.source == "model" else None
        try:
            notices = save_mask_as_dicom_seg(volume, session.prediction, volume.source_path,
                                             path, {1: "spleen"}, algorithm=algorithm,
                                             overwrite=overwrite)
        except (SpleenScopeError, OSError) as error:
            self.window.show_error(str(error), "Could not save the DICOM SEG")
            return False
        except Exception as error:  # highdicom validation: report, keep the app
            log.exception("DICOM SEG export failed")
            self.window.show_error(f"could not build the DICOM SEG ({type(error).__name__}: "
                                   f"{error})", "Could not save the DICOM SEG")
            return False
        self.last_saved = Path(path)
        self.session.mark_saved(str(path))
        extra = f" ({notices[0]})" if notices else ""
        self.window.statusBar().showMessage(f"Saved DICOM SEG to {path}{extra}", 8000)
        return True

    def export_report(self, path: str | Path | None = None) -> Path | None:
        """Write the JSON or CSV report (by suffix); asks where when ``path`` is None."""
        volume, session = self.window.volume, self.session
        if volume is None or session.measurements is None:
            self.window.show_error("There is no result to report yet.", "Nothing to export")
            return None
        if path is None:
            default = default_mask_path(volume).with_name(
                default_mask_path(volume).name.split(".")[0].replace("_seg", "_report") + ".json")
            chosen, chosen_filter = QFileDialog.getSaveFileName(
                self.window, "Export report", str(default), REPORT_FILTERS)
            if not chosen:
                return None
            path = Path(chosen)
            if path.suffix.lower() not in (".json", ".csv"):
                path = path.with_suffix(".csv" if "CSV" in chosen_filter else ".json")
        try:
            written = write_report(self.report(), path)
        except OSError as error:
            self.window.show_error(f"{path}: could not write the report ({error.strerror})",
                                   "Could not export")
            return None
        self.last_report = written
        self.window.statusBar().showMessage(f"Exported report to {written}", 8000)
        return written

    def report(self) -> dict:
        session = self.session
        evaluation = session.pair.evaluation.as_dict() if session.pair is not None else None
        model = dict(session.model or {})
        model.pop("path", None)  # a path may name a person's folder
        return build_report(
            self.window.volume,
            session.measurements.as_dict() if session.measurements else None,
            evaluation=evaluation,
            model=model or None,
            device=session.device,
            source=session.source or "model",
        )

    # ------------------------------------------------------------ the guard
    def confirm_unsaved(self) -> bool:
        """Ask Save / Discard / Cancel about an unsaved mask; True means go ahead."""
        if not self.session.dirty:
            return True
        if self.window.headless:
            return True
        answer = QMessageBox.question(
            self.window,
            "Unsaved spleen mask",
            "The spleen mask has not been saved. Save it before going on?",
            QMessageBox.Save | QMessageBox.Discard | QMessageBox.Cancel,
            QMessageBox.Save,
        )
        if answer == QMessageBox.Save:
            return self.save()
        if answer == QMessageBox.Discard:
            self.session.discard()
            return True
        return False

    def _volume_changed(self, volume) -> None:
        self._update_actions()
        entry, self._pending_recovery = self._pending_recovery, None
        if entry is None or volume is None:
            return
        if not entry.matches(volume):
            self.window.show_error("The recovered mask does not fit this image's grid; "
                                   "it was kept in the recovery folder.", "Could not recover")
            return
        mask, _affine = entry.load_mask()
        self.session.set_prediction(mask, source="recovery", name="recovered mask",
                                    model={"name": entry.meta.get("model")} if
                                    entry.meta.get("model") else None, dirty=True)
        recovery.remove_recovery(entry.key)  # the session keeps its own copy now

    # ----------------------------------------------------------------- recovery
    def offer_recovery(self, manual: bool = False) -> bool:
        """Offer the newest recovery copy left by an earlier run; True if one is being restored."""
        if self.window.headless:
            return False
        entries = recovery.find_recoveries(exclude_pid=os.getpid())
        if not entries:
            if manual:
                self.window.statusBar().showMessage("No unsaved masks to recover", 4000)
            return False
        entry = entries[0]
        more = f" ({len(entries) - 1} older copies remain.)" if len(entries) > 1 else ""
        answer = QMessageBox.question(
            self.window,
            "Recover unsaved mask",
            f"SpleenScope did not close normally last time. An unsaved mask was kept: "
            f"{entry.describe()}.{more}\n\nOpen its image and restore the mask?",
            QMessageBox.Open | QMessageBox.Discard | QMessageBox.Ignore,
            QMessageBox.Open,
        )
        if answer == QMessageBox.Discard:
            recovery.remove_recovery(entry.key)
            return False
        if answer != QMessageBox.Open:
            return False
        source = entry.source_path
        if not source or not Path(source).exists():
            self.window.show_error(f"The image of the recovered mask is gone ({Path(source).name});"
                                   f" the mask is in {entry.mask_path.parent}.",
                                   "Could not recover")
            return False
        self._pending_recovery = entry
        if not self.window.open_path(source):
            self._pending_recovery = None
            return False
        return True


def is_dicom_input(volume) -> bool:
    """True when ``volume`` was read from DICOM (a folder or a DICOM file)."""
    if volume is None or not volume.source_path:
        return False
    source = Path(volume.source_path)
    # DICOM files are named .dcm or carry no known suffix at all
    return source.is_dir() or (source.is_file() and format_of(source) in (None, DICOM))
