"""One training run as the window sees it, without Qt: events in, status and a kept model out.

:class:`TrainingController` is what the training dialog knows about a run, apart from
its widgets and the child process: the settings it started with, the events read
from the child's ``--json`` output (:mod:`viewer.training_protocol`), the tail of
its error output, why it ended, and the model card bookkeeping that moves the best
checkpoint into the user's models folder (:mod:`viewer.model_card`). The dialog
(:mod:`viewer.ui.training_dialog`) feeds it bytes and shows what it says, so this
module is tested without a window.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from viewer import model_card
from viewer.errors import ModelFileError
from viewer.training_data import DataCheck
from viewer.training_protocol import (
    DoneEvent,
    Event,
    EventReader,
    StartEvent,
    TrainingRun,
    TrainingSettings,
    build_command,
    format_duration,
)

log = logging.getLogger(__name__)

#: Lines of the child's error output kept for the message of a crash.
STDERR_TAIL_LINES = 20


class TrainingController:
    """The state of the current (or last) training run, fed by the dialog."""

    def __init__(self) -> None:
        self.run = TrainingRun()
        self.reader = EventReader()
        self.settings_used: TrainingSettings | None = None
        self.source = "collection"  # or "folder": where the cases came from, for the card
        self.data_check: DataCheck | None = None
        self.saved_model: Path | None = None
        self.stderr_tail: list[str] = []
        self.stop_requested = False
        self.started_at = 0.0
        self.first_step_clock: float | None = None

    # ---------------------------------------------------------------- starting
    def begin(self, settings: TrainingSettings, source: str) -> list[str]:
        """Forget the previous run and return the child's command line for ``settings``.

        A checkpoint left in the staging folder by an earlier run is removed, so the
        model kept at the end can only be this run's."""
        for stale in (settings.output, model_card.state_file_path(settings.output)):
            stale.unlink(missing_ok=True)
        self.run = TrainingRun()
        self.reader = EventReader()
        self.settings_used = settings
        self.source = source
        self.saved_model = None
        self.stderr_tail = []
        self.stop_requested = False
        self.first_step_clock = None
        self.started_at = time.monotonic()
        return build_command(settings)

    # ------------------------------------------------------------------ output
    def feed_stdout(self, chunk: bytes) -> list[Event]:
        """Apply the events in a chunk of the child's standard output; returns them."""
        return self._apply(self.reader.feed(chunk))

    def flush(self) -> list[Event]:
        """The child ended: apply a last line that had no newline."""
        return self._apply(self.reader.flush())

    def feed_stderr(self, chunk: bytes) -> list[str]:
        """The non-blank lines of a chunk of the child's error output (the tail is kept)."""
        text = chunk.decode("utf-8", errors="replace")
        lines = [line for line in text.splitlines() if line.strip()]
        self.stderr_tail = (self.stderr_tail + lines)[-STDERR_TAIL_LINES:]
        return lines

    def _apply(self, events: list[Event]) -> list[Event]:
        for event in events:
            self.run.apply(event)
            if isinstance(event, StartEvent):
                self.first_step_clock = time.monotonic()
        return events

    # ----------------------------------------------------------------- ending
    def failed_to_start(self) -> None:
        self.run.error = "the training process could not start"

    def ended(self, exit_code: int, crashed: bool) -> None:
        """The child exited: when it said neither done nor error, say how it ended."""
        run = self.run
        crashed = crashed or (exit_code != 0 and run.done is None)
        if run.done is None and run.error is None and crashed:
            tail = self.stderr_tail[-1] if self.stderr_tail else ""
            how = "was stopped" if self.stop_requested else f"ended unexpectedly (exit {exit_code})"
            run.error = f"the training process {how}" + (f": {tail}" if tail else "")

    def keep_model(self, models_dir: Path) -> Path | None:
        """Move the best checkpoint into ``models_dir`` with its card; None (and
        ``run.error`` says why) when there is none or it cannot be moved."""
        settings = self.settings_used
        if settings is None or not settings.output.is_file():
            if self.run.error is None:
                self.run.error = "no model was saved"
            return None
        cases = self.data_check.cases if self.data_check else []
        data = model_card.describe_data(self.source, settings.data,
                                        [case.name for case in cases])
        done = self.run.done
        outcome = {
            "epochs_run": done.epochs_run if done else self.run.epoch,
            "stopped": done.stopped if done else True,
            "ended": ending(done, self.run.error),
            "seconds": done.seconds if done else round(time.monotonic() - self.started_at, 1),
            "fine_tuned_from": settings.init_from.name if settings.init_from else None,
        }
        try:
            self.saved_model = model_card.finalize_trained_model(
                settings.output, models_dir, settings.output.stem, data, settings, outcome)
        except (ModelFileError, OSError) as error:
            self.run.error = f"the trained model could not be kept: {error}"
            return None
        return self.saved_model

    # ----------------------------------------------------------------- showing
    def status_text(self, running: bool) -> str:
        """The status line: the run's own, plus time left and elapsed while it runs."""
        text = self.run.status_text()
        if running:
            if self.run.eta_seconds is None and self.run.epochs:
                text += " · " + self.first_epoch_estimate()
            text += f" · {format_duration(time.monotonic() - self.started_at)} elapsed"
        return text

    def first_epoch_estimate(self) -> str:
        """Before the first epoch ends (minutes on a big dataset): extrapolate from steps."""
        run = self.run
        if self.first_step_clock is None or not run.step or not run.steps:
            return "estimating time left"
        done = (run.epoch - 1) * run.steps + run.step
        total = run.epochs * run.steps
        per_step = (time.monotonic() - self.first_step_clock) / max(1, done)
        return f"roughly {format_duration(per_step * (total - done))} left"

    def best_text(self) -> str:
        """``Best validation Dice 0.912 (epoch 7) · last epoch took 40 s``, or ''."""
        run = self.run
        if run.best_val_dice is None:
            return ""
        best_epoch = max(run.dice_points, key=lambda p: p[1])[0] if run.dice_points else None
        where = f" (epoch {best_epoch:.0f})" if best_epoch is not None else ""
        last = (f" · last epoch took {format_duration(run.epoch_seconds[-1])}"
                if run.epoch_seconds else "")
        return f"Best validation Dice {run.best_val_dice:.3f}{where}{last}"

    def device_text(self) -> str:
        run = self.run
        if not run.device:
            return ""
        return (f"Device: {run.device} · {run.train_slices} training / "
                f"{run.val_slices} validation slices")


def ending(done: DoneEvent | None, error: str | None) -> str:
    """How the run ended, in the card's words."""
    if done is not None:
        return "stopped by the user" if done.stopped else "finished"
    return f"ended early ({error})" if error else "ended early"
