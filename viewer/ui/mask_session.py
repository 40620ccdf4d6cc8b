"""The masks the user is working on, shared by the segment, review and save tools.

One :class:`MaskSession` per window holds the prediction (from the model, a file
or a recovery copy) with its measurements, the reference mask, their comparison
(computed in a background thread, see :mod:`viewer.review`), the overlay mode, and
whether the prediction is saved. Panels listen to its signals; nothing here draws
widgets itself except the overlay layers it hands to the main window.

While a prediction is unsaved a recovery copy is kept on disk
(:mod:`viewer.recovery`); saving, discarding or replacing the volume removes it.
Writes and removals run through :func:`~viewer.ui.background.run_in_background`,
in the order asked for (:class:`_RecoveryQueue`).
"""

from __future__ import annotations

import logging
import threading

import numpy as np
from PyQt5.QtCore import QObject, QTimer, pyqtSignal

from segmentation.measurements import SpleenMeasurements, measure_spleen
from segmentation.metrics import difference_map
from viewer import recovery
from viewer.review import (
    DIFFERENCE_LAYER,
    PREDICTION_LAYER,
    REVIEW_LAYERS,
    ReviewPair,
    binary,
    layers_for_mode,
)
from viewer.ui.background import run_in_background

log = logging.getLogger(__name__)

#: After an edit, the recovery copy waits this long for the next stroke.
RECOVERY_DEBOUNCE_MS = 1500


class MaskSession(QObject):
    prediction_changed = pyqtSignal()
    reference_changed = pyqtSignal()
    review_ready = pyqtSignal(object)  # ReviewPair with its metrics computed, or None
    review_failed = pyqtSignal(str)
    dirty_changed = pyqtSignal(bool)
    mode_changed = pyqtSignal(str)

    def __init__(self, window) -> None:
        super().__init__(window)
        self.window = window
        self.prediction: np.ndarray | None = None
        self.measurements: SpleenMeasurements | None = None
        self.source = ""  # "model", "file" or "recovery"
        self.prediction_name = ""
        self.model: dict | None = None  # name, path, val_dice
        self.device: str | None = None
        self.axis = 2
        self.reference: np.ndarray | None = None
        self.reference_name = ""
        self.pair: ReviewPair | None = None
        self.dirty = False
        self.saved_path: str | None = None
        self.mode = "prediction"
        self.recovery_key = recovery.new_key()
        self._generation = 0
        # Recovery writes and removals: numbered as asked, run off the GUI thread one
        # at a time (see _recovery_job); plain Python, shared with their threads.
        self._recovery = _RecoveryQueue()
        self._recovery_timer = QTimer(self)
        self._recovery_timer.setSingleShot(True)
        self._recovery_timer.timeout.connect(self._write_recovery)
        window.volume_changed.connect(lambda _volume: self.clear())

    # ------------------------------------------------------------- prediction
    def set_prediction(self, mask: np.ndarray, measurements: SpleenMeasurements | None = None,
                       source: str = "model", name: str = "", model: dict | None = None,
                       device: str | None = None, axis: int = 2, dirty: bool = True) -> None:
        """Show a new prediction (the previous one is replaced as a whole)."""
        volume = self.window.volume
        if volume is None:
            raise ValueError("no volume is open")
        mask = binary(mask)
        volume.check_same_grid_shape(mask)
        self.prediction = mask
        self.measurements = measurements or measure_spleen(mask, volume.affine)
        self.source, self.prediction_name = source, name
        self.model, self.device, self.axis = model, device, int(axis)
        self.saved_path = None
        mode_changed = self.reference is not None and self.mode == "reference"
        if mode_changed:
            self.mode = "difference"  # a reference was waiting for this: compare
        self._set_dirty(dirty)
        self.prediction_changed.emit()
        if mode_changed:
            self.mode_changed.emit(self.mode)
        self._pair_changed()

    def prediction_region_edited(self, region) -> None:
        """The prediction was changed in place inside ``region`` (a brush stroke,
        still in progress): the review layers shown from it follow there at once
        (the shown prediction when it is a copy, the difference map, computed by
        :func:`segmentation.metrics.difference_map` as the review does), and the
        document announces the region so the views re-render it."""
        window = self.window
        edited = self.prediction[region]
        touched = []
        shown = window.overlays.get(PREDICTION_LAYER)
        if shown is not None:
            if shown.labels is not self.prediction:
                shown.labels[region] = edited > 0
            touched.append(PREDICTION_LAYER)
        difference = window.overlays.get(DIFFERENCE_LAYER)
        if difference is not None and self.reference is not None:
            difference.labels[region] = difference_map(edited, self.reference[region])
            touched.append(DIFFERENCE_LAYER)
        window.document.edit_labels(touched, region)

    def prediction_edited(self) -> None:
        """The prediction array was corrected IN PLACE by hand (hook for
        ``viewer/ui/edit_tools.py``, which redraws the overlay itself): mark it unsaved,
        re-measure in the background, compare again when there is a reference."""
        volume = self.window.volume
        if self.prediction is None or volume is None:
            return
        # the recovery copy waits for a pause between strokes; the overlays stay as
        # they are (the editing tool mirrored the edit) until the new comparison is in
        self._set_dirty(True, recovery_delay_ms=RECOVERY_DEBOUNCE_MS)
        if self.reference is not None:
            self._pair_changed(redraw_now=False)
        mask, snapshot = self.prediction, self.prediction.copy()  # the next stroke may write
        self._edit_generation = generation = getattr(self, "_edit_generation", 0) + 1

        def measured(measurements) -> None:
            if generation == self._edit_generation and mask is self.prediction:
                self.measurements = measurements
                self.prediction_changed.emit()

        run_in_background(self, lambda: measure_spleen(snapshot, volume.affine), measured,
                          lambda message: log.warning("could not measure the edit: %s", message))

    def set_reference(self, mask: np.ndarray, name: str = "reference") -> None:
        volume = self.window.volume
        if volume is None:
            raise ValueError("no volume is open")
        mask = binary(mask)
        volume.check_same_grid_shape(mask)
        self.reference, self.reference_name = mask, name
        if self.mode == "prediction" and self.prediction is None:
            self.mode = "reference"
        elif self.mode == "prediction":
            self.mode = "difference"
        self.reference_changed.emit()
        self.mode_changed.emit(self.mode)
        self._pair_changed()

    def clear(self) -> None:
        """Forget everything (a new volume was opened; the guard has already asked)."""
        self._generation += 1
        self.prediction = self.reference = None
        self.measurements = self.pair = None
        self.model = self.device = None
        self.source = self.prediction_name = self.reference_name = ""
        self.saved_path = None
        self.mode = "prediction"
        self._set_dirty(False)
        self.prediction_changed.emit()
        self.reference_changed.emit()
        self.review_ready.emit(None)
        self.mode_changed.emit(self.mode)

    # ------------------------------------------------------------------ review
    def _pair_changed(self, redraw_now: bool = True) -> None:
        """Recompute the comparison in the background.

        ``redraw_now=False`` (after an in-place edit) keeps the current overlay
        layers until the new comparison is ready, so the difference map does not
        flicker back to outlines after every brush stroke.
        """
        self._generation += 1
        self.pair = None  # is_reviewing() until the new comparison is in
        if redraw_now:
            self.apply_overlays()
        if self.prediction is None or self.reference is None or self.window.volume is None:
            self.review_ready.emit(None)
            return
        generation = self._generation
        prediction, reference = self.prediction, self.reference
        affine, axis = self.window.volume.affine, self.axis

        def compute() -> ReviewPair:
            # a snapshot: the editing tool changes the prediction in place meanwhile
            pair = ReviewPair(prediction.copy(), reference, affine, axis)
            pair.evaluation  # noqa: B018 (cached: surface distances take seconds)
            pair.difference  # noqa: B018
            pair.slices_by_disagreement()
            return pair

        def done(result) -> None:
            if generation != self._generation:
                return  # a newer mask arrived meanwhile
            self.pair = result
            self.apply_overlays()
            self.review_ready.emit(result)

        def failed(message: str) -> None:
            if generation == self._generation:
                self.review_failed.emit(message)

        run_in_background(self, compute, done, failed)

    def is_reviewing(self) -> bool:
        """True while the comparison of a prediction with a reference is being computed."""
        return (self.prediction is not None and self.reference is not None
                and self.pair is None)

    # ----------------------------------------------------------------- overlays
    def set_mode(self, mode: str) -> None:
        if mode != self.mode:
            self.mode = mode
            self.apply_overlays()
            self.mode_changed.emit(mode)

    def apply_overlays(self) -> None:
        """Replace the review's overlay layers with those of the current mode."""
        window = self.window
        if window.volume is None:
            return
        mode = self.mode
        if mode == "difference" and self.pair is None:
            mode = "outlines"  # until the difference map is computed
        layers = layers_for_mode(mode, self.prediction, self.reference, self.pair)
        wanted = {layer.name for layer in layers}
        for name in REVIEW_LAYERS:
            if name in window.overlays and name not in wanted:
                window.remove_overlay(name)
        for layer in layers:
            window.set_overlay(layer)

    # ------------------------------------------------------------------ saving
    def mark_saved(self, path: str) -> None:
        self.saved_path = str(path)
        self._set_dirty(False)

    def discard(self) -> None:
        """Drop the unsaved state (the mask stays shown, but nothing asks about it)."""
        self._set_dirty(False)

    def _set_dirty(self, dirty: bool, recovery_delay_ms: int = 0) -> None:
        changed = dirty != self.dirty
        self.dirty = dirty
        self._recovery_timer.stop()
        if dirty and recovery_delay_ms:
            self._recovery_timer.start(recovery_delay_ms)  # edits come in bursts
        elif dirty:
            self._write_recovery()
        else:
            self._remove_recovery()
        if changed:
            self.dirty_changed.emit(dirty)

    def _write_recovery(self) -> None:
        volume, mask, key = self.window.volume, self.prediction, self.recovery_key
        if volume is None or mask is None or getattr(self.window, "headless", False):
            return  # a headless render (CLI --screenshot) has nothing to recover
        if not self.dirty:
            return
        extra = {"source": self.source, "model": (self.model or {}).get("name")}

        def write() -> None:
            try:
                # a copy taken here, off the GUI thread; an edit racing with it is
                # followed by its own (debounced) write
                recovery.write_recovery(key, volume, mask.copy(), extra)
            except OSError as error:
                log.warning("could not write the recovery copy: %s", error)

        # gzip releases the GIL: compressing in a thread keeps the window responsive.
        self._recovery_job(write)

    def _remove_recovery(self) -> None:
        key = self.recovery_key
        self._recovery_job(lambda: recovery.remove_recovery(key))

    def _recovery_job(self, job) -> None:
        """Run a recovery write or removal through :func:`run_in_background`."""
        run_in_background(self, self._recovery.ask(job), lambda _result: None,
                          lambda message: log.warning("recovery copy: %s", message))

    def wait_for_recovery(self) -> None:
        """Block until every recovery write or removal asked for has finished
        (a debounced write still waiting for its timer is written now)."""
        if self._recovery_timer.isActive():
            self._recovery_timer.stop()
            self._write_recovery()
        self._recovery.wait()


class _RecoveryQueue:
    """Recovery writes and removals in the order they were asked for.

    Each job leaves the recovery copy as the session was when it was asked for (its
    mask then, or nothing), so only the latest one matters: jobs run one at a time,
    and a job that finds a later one already done is skipped. An earlier snapshot
    therefore never overwrites a later one, whatever order their threads start in.
    Each job is a background task from the moment it is asked for, so closing the
    window never drops a queued removal.
    """

    def __init__(self) -> None:
        self._asked = 0  # number of the latest job asked for
        self._ran = 0  # number of the latest job run (under _one_at_a_time)
        self._one_at_a_time = threading.Lock()
        self._finished = threading.Condition()
        self._pending = 0

    def ask(self, job):
        """Number ``job``; returns the function a background task runs for it."""
        self._asked += 1
        number = self._asked
        with self._finished:
            self._pending += 1

        def run() -> None:
            try:
                with self._one_at_a_time:
                    if self._ran > number:
                        return  # a later state is on disk already
                    self._ran = number
                    job()
            finally:
                with self._finished:
                    self._pending -= 1
                    self._finished.notify_all()

        return run

    def wait(self) -> None:
        with self._finished:
            self._finished.wait_for(lambda: self._pending == 0)
