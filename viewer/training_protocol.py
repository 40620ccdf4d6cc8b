"""The in-app training dialog's side of ``spleenscope train --json`` (Qt-free).

The dialog runs training as a child process, so a crash or an out-of-memory in torch
can never take the viewer down, and Stop (SIGTERM) always ends it. This module holds
everything about that conversation that does not need Qt:

- :class:`TrainingSettings` and :func:`build_command`: the exact command line;
- :func:`parse_event` / :class:`EventReader`: stdout bytes -> typed event records,
  tolerant of partial chunks, blank lines and non-JSON garbage (a library that
  prints to stdout must not break the dialog);
- :class:`TrainingRun`: the state the dialog draws (curves, epoch k of n, time left).

The event fields are those documented in ``viewer/cli/train.py``.
"""

from __future__ import annotations

import json
import logging
import sys
from dataclasses import dataclass, field
from pathlib import Path

from segmentation.devices import DEVICE_CHOICES
from viewer.grid import VIEW_NAMES

log = logging.getLogger(__name__)

#: Runs the packaged CLI without relying on ``main.py`` or a console script on PATH.
CLI_BOOTSTRAP = "import sys; from viewer.cli import main; sys.exit(main())"
DEVICES = DEVICE_CHOICES
AXES = VIEW_NAMES


@dataclass
class TrainingSettings:
    """What the user chose in the dialog; every field maps to one CLI option.

    The defaults follow the recipe of the bundled model (``segmentation/train_bundled.py``),
    which was tuned on the sample CT so that a small collection gives a usable model on a
    CPU: 20 steps of 8 patches per epoch (``steps_per_epoch=None`` means one pass over the
    training slices, the CLI's default, which is better for large datasets).
    """

    output: Path
    data: Path | None = None
    pairs: list[tuple[Path, Path]] = field(default_factory=list)
    epochs: int = 40
    learning_rate: float = 1e-3
    batch_size: int = 8
    axis: str = "axial"
    val_fraction: float = 0.2
    device: str = "auto"
    init_from: Path | None = None
    steps_per_epoch: int | None = 20
    patch_size: int = 192
    base_channels: int = 16
    depth: int = 4
    spacing_mm: float = 2.0
    threads: int | None = None
    seed: int = 0

    def problems(self) -> list[str]:
        """Settings the CLI would refuse, as sentences (empty when fine)."""
        found = []
        if self.data is None and not self.pairs:
            found.append("choose training data")
        if self.epochs < 1:
            found.append("epochs must be at least 1")
        if not 0 < self.learning_rate < 1:
            found.append("learning rate must be between 0 and 1")
        if self.batch_size < 1:
            found.append("batch size must be at least 1")
        if not 0 <= self.val_fraction < 1:
            found.append("validation fraction must be at least 0 and below 1")
        if self.axis not in AXES:
            found.append(f"axis must be one of {', '.join(AXES)}")
        if self.device not in DEVICES:
            found.append(f"device must be one of {', '.join(DEVICES)}")
        if Path(self.output).suffix != ".pt":
            found.append("the model file name must end in .pt")
        return found


def build_arguments(settings: TrainingSettings) -> list[str]:
    """``train DATA -o MODEL ... --json``: the CLI arguments for ``settings``."""
    args = ["train"]
    if settings.data is not None:
        args.append(str(settings.data))
    for image, label in settings.pairs:
        args += ["--pair", str(image), str(label)]
    args += [
        "-o", str(settings.output),
        "--epochs", str(int(settings.epochs)),
        "--lr", repr(float(settings.learning_rate)),
        "--batch-size", str(int(settings.batch_size)),
        "--axis", settings.axis,
        "--val-fraction", repr(float(settings.val_fraction)),
        "--device", settings.device,
        "--patch-size", str(int(settings.patch_size)),
        "--seed", str(int(settings.seed)),
    ]  # fmt: skip
    if settings.steps_per_epoch:
        args += ["--steps-per-epoch", str(int(settings.steps_per_epoch))]
    if settings.init_from is not None:
        # a fine-tuned model keeps the architecture and preprocessing of its parent
        args += ["--init", str(settings.init_from)]
    else:
        args += [
            "--base-channels", str(int(settings.base_channels)),
            "--depth", str(int(settings.depth)),
            "--spacing", repr(float(settings.spacing_mm)),
        ]  # fmt: skip
    if settings.threads:
        args += ["--threads", str(int(settings.threads))]
    args.append("--json")
    return args


def build_command(settings: TrainingSettings, python: str | None = None) -> list[str]:
    """The full child-process command: ``[python, -c, <bootstrap>, train, ...]``.

    ``python`` defaults to :data:`sys.executable`, the interpreter running the viewer,
    so the child sees exactly the same installed packages.
    """
    return [python or sys.executable, "-c", CLI_BOOTSTRAP, *build_arguments(settings)]


def package_root() -> Path:
    """The folder that holds the ``viewer`` package (put on the child's PYTHONPATH)."""
    return Path(__file__).resolve().parent.parent


# ---------------------------------------------------------------------- events
@dataclass(frozen=True)
class StartEvent:
    epochs: int
    device: str
    train_slices: int
    val_slices: int
    first_epoch: int = 1
    steps_per_epoch: int | None = None


@dataclass(frozen=True)
class ProgressEvent:
    epoch: int
    step: int
    steps: int
    loss: float | None


@dataclass(frozen=True)
class EpochEvent:
    epoch: int
    epochs: int
    train_loss: float | None
    val_loss: float | None
    val_dice: float | None
    best_val_dice: float | None
    seconds: float
    eta_seconds: float


@dataclass(frozen=True)
class DoneEvent:
    model: str
    best_val_dice: float | None
    epochs_run: int
    stopped: bool
    seconds: float | None = None


@dataclass(frozen=True)
class ErrorEvent:
    message: str


@dataclass(frozen=True)
class TextLine:
    """A stdout line that is not a protocol event (kept for the log, never fatal)."""

    text: str


Event = StartEvent | ProgressEvent | EpochEvent | DoneEvent | ErrorEvent | TextLine


def _number(value, kind=float):
    if value is None:
        return None
    try:
        return kind(value)
    except (TypeError, ValueError):
        return None


def _event_from_dict(data: dict) -> Event | None:
    kind = data.get("event")
    if kind == "start":
        return StartEvent(
            epochs=int(data["epochs"]),
            device=str(data.get("device", "")),
            train_slices=int(data.get("train_slices", 0)),
            val_slices=int(data.get("val_slices", 0)),
            first_epoch=int(data.get("first_epoch", 1)),
            steps_per_epoch=_number(data.get("steps_per_epoch"), int),
        )
    if kind == "progress":
        return ProgressEvent(
            epoch=int(data["epoch"]),
            step=int(data["step"]),
            steps=int(data["steps"]),
            loss=_number(data.get("loss")),
        )
    if kind == "epoch":
        return EpochEvent(
            epoch=int(data["epoch"]),
            epochs=int(data["epochs"]),
            train_loss=_number(data.get("train_loss")),
            val_loss=_number(data.get("val_loss")),
            val_dice=_number(data.get("val_dice")),
            best_val_dice=_number(data.get("best_val_dice")),
            seconds=float(data.get("seconds") or 0.0),
            eta_seconds=float(data.get("eta_seconds") or 0.0),
        )
    if kind == "done":
        return DoneEvent(
            model=str(data["model"]),
            best_val_dice=_number(data.get("best_val_dice")),
            epochs_run=int(data.get("epochs_run", 0)),
            stopped=bool(data.get("stopped", False)),
            seconds=_number(data.get("seconds")),
        )
    if kind == "error":
        return ErrorEvent(message=str(data.get("message", "training failed")))
    return None


def parse_event(line: str) -> Event | None:
    """One stdout line -> an event; ``TextLine`` for anything else; None for blank lines."""
    text = line.strip()
    if not text:
        return None
    if text.startswith("{"):
        try:
            data = json.loads(text)
        except ValueError:
            data = None
        if isinstance(data, dict):
            try:
                event = _event_from_dict(data)
            except (KeyError, TypeError, ValueError):
                event = None
            if event is not None:
                return event
    log.debug("non-protocol line from training: %.200s", text)
    return TextLine(text)


class EventReader:
    """Turns stdout chunks (which may split lines anywhere) into events."""

    def __init__(self) -> None:
        self._pending = b""

    def feed(self, chunk: bytes | str) -> list[Event]:
        if isinstance(chunk, str):
            chunk = chunk.encode("utf-8")
        self._pending += chunk
        *lines, self._pending = self._pending.split(b"\n")
        return self._parse(lines)

    def flush(self) -> list[Event]:
        """Events from a last line that had no newline (call when the process ends)."""
        lines, self._pending = [self._pending], b""
        return self._parse(lines)

    @staticmethod
    def _parse(lines: list[bytes]) -> list[Event]:
        events = []
        for raw in lines:
            event = parse_event(raw.decode("utf-8", errors="replace"))
            if event is not None:
                events.append(event)
        return events


# ------------------------------------------------------------------- run state
@dataclass
class TrainingRun:
    """What the dialog shows, built only from events (so it can be tested without Qt).

    Curves use a fractional epoch on x: a progress event at step s of S in epoch k sits
    at ``k - 1 + s / S``, and an epoch's validation point at ``k``.
    """

    epochs: int = 0
    epoch: int = 0
    step: int = 0
    steps: int = 0
    device: str = ""
    train_slices: int = 0
    val_slices: int = 0
    eta_seconds: float | None = None
    best_val_dice: float | None = None
    loss_points: list[tuple[float, float]] = field(default_factory=list)
    train_loss_points: list[tuple[float, float]] = field(default_factory=list)
    val_loss_points: list[tuple[float, float]] = field(default_factory=list)
    dice_points: list[tuple[float, float]] = field(default_factory=list)
    epoch_seconds: list[float] = field(default_factory=list)
    done: DoneEvent | None = None
    error: str | None = None
    text_lines: list[str] = field(default_factory=list)

    def apply(self, event: Event) -> None:
        if isinstance(event, StartEvent):
            self.epochs = event.epochs
            self.device = event.device
            self.train_slices, self.val_slices = event.train_slices, event.val_slices
            self.epoch = event.first_epoch - 1
            self.steps = event.steps_per_epoch or 0
        elif isinstance(event, ProgressEvent):
            self.epoch, self.step, self.steps = event.epoch, event.step, event.steps
            if event.loss is not None:
                x = event.epoch - 1 + event.step / max(1, event.steps)
                self.loss_points.append((x, event.loss))
        elif isinstance(event, EpochEvent):
            self.epoch, self.epochs = event.epoch, event.epochs
            self.step = self.steps
            self.eta_seconds = event.eta_seconds
            self.best_val_dice = event.best_val_dice
            self.epoch_seconds.append(event.seconds)
            if event.train_loss is not None:
                self.train_loss_points.append((float(event.epoch), event.train_loss))
            if event.val_loss is not None:
                self.val_loss_points.append((float(event.epoch), event.val_loss))
            if event.val_dice is not None:
                self.dice_points.append((float(event.epoch), event.val_dice))
        elif isinstance(event, DoneEvent):
            self.done = event
            self.eta_seconds = 0.0
            if event.best_val_dice is not None:
                self.best_val_dice = event.best_val_dice
        elif isinstance(event, ErrorEvent):
            self.error = event.message
        elif isinstance(event, TextLine):
            self.text_lines = (self.text_lines + [event.text])[-50:]

    @property
    def fraction_done(self) -> float:
        """0..1 over all epochs, counting steps within the current one."""
        if not self.epochs:
            return 0.0
        if self.done is not None:
            return 1.0
        within = self.step / self.steps if self.steps else 0.0
        completed = self.epoch - 1 + within if self.epoch else 0.0
        return max(0.0, min(1.0, completed / self.epochs))

    def status_text(self) -> str:
        """``Epoch 3 of 20 · step 5/20 · about 4 min left``."""
        if self.error:
            return f"Failed: {self.error}"
        if self.done is not None:
            state = "Stopped" if self.done.stopped else "Finished"
            return f"{state} after {self.done.epochs_run} of {self.epochs} epochs"
        if not self.epochs:
            return "Starting…"
        parts = [f"Epoch {max(self.epoch, 1)} of {self.epochs}"]
        if self.steps:
            parts.append(f"step {self.step}/{self.steps}")
        if self.eta_seconds is not None:
            parts.append(f"about {format_duration(self.eta_seconds)} left")
        return " · ".join(parts)


def format_duration(seconds: float) -> str:
    """``45 s``, ``4 min``, ``1 h 05 min``: how long, rounded the way people say it."""
    seconds = max(0.0, float(seconds))
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 90:
        return f"{seconds:.0f} s"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60:02d} min"
