"""``spleenscope train DATA -o MODEL``: train (or fine-tune) a spleen model.

DATA is a folder in the Medical Segmentation Decathlon layout (``imagesTr/``,
``labelsTr/``); ``--pair IMAGE LABEL`` adds cases whose image may be a DICOM folder.
With ``--json`` every event is one JSON object per line on stdout (the in-app
training dialog runs this command as a child process and reads them)::

    {"event": "start", "epochs": n, "device": "...", "train_slices": .., "val_slices": ..}
    {"event": "progress", "epoch": k, "step": s, "steps": S, "loss": ..}
    {"event": "epoch", "epoch": k, "epochs": n, "train_loss": .., "val_loss": ..,
     "val_dice": .., "best_val_dice": .., "seconds": .., "eta_seconds": ..}
    {"event": "done", "model": "path", "best_val_dice": .., "epochs_run": k, "stopped": bool}
    {"event": "error", "message": "one line"}

SIGTERM or SIGINT stops training after the current step; the best checkpoint is kept
(or the current weights are scored and saved when no epoch has finished yet),
``done`` is printed with ``stopped: true`` and the exit status is 0.
"""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path

from segmentation.devices import DEVICE_CHOICES
from viewer import strict_json
from viewer.cli.segment import one_line_usage_errors
from viewer.grid import VIEW_NAMES


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "train",
        help="train or fine-tune a spleen model from labelled cases",
        description="Train a 2D UNet from an MSD-layout folder and/or image/label pairs.",
    )
    p.add_argument(
        "data",
        type=Path,
        nargs="?",
        default=None,
        help="dataset folder with imagesTr/ and labelsTr/ (MSD layout)",
    )
    p.add_argument(
        "--pair",
        nargs=2,
        action="append",
        default=[],
        metavar=("IMAGE", "LABEL"),
        type=Path,
        help="an extra case; IMAGE may be a DICOM folder (repeatable)",
    )
    p.add_argument("-o", "--output", type=Path, required=True, help="model file to write (.pt)")
    p.add_argument("--epochs", type=int, default=40)
    p.add_argument("--lr", type=float, default=1e-3, help="learning rate (AdamW)")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument(
        "--steps-per-epoch",
        type=int,
        default=None,
        help="default: one pass over the training slices",
    )
    p.add_argument("--axis", default="axial", choices=VIEW_NAMES)
    p.add_argument(
        "--val-fraction",
        type=float,
        default=0.2,
        help="held-out fraction (cases, or slices of a single case)",
    )
    p.add_argument("--device", default="auto", choices=DEVICE_CHOICES)
    p.add_argument(
        "--init",
        type=Path,
        default=None,
        metavar="MODEL",
        help="start from this model's weights and settings (fine-tuning)",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--resume", action="store_true", help="continue from MODEL.state.pt left by an earlier run"
    )
    p.add_argument("--base-channels", type=int, default=16)
    p.add_argument("--depth", type=int, default=4, help="UNet downsamplings")
    p.add_argument("--spacing", type=float, default=2.0, help="in-plane mm the network sees")
    p.add_argument("--patch-size", type=int, default=256, help="training crop in model pixels")
    p.add_argument(
        "--context-slices",
        type=int,
        default=0,
        metavar="K",
        help="2.5D input: K neighbouring slices on each side as extra channels (default 0)",
    )
    p.add_argument("--threads", type=int, default=None, help="CPU threads")
    p.add_argument("--json", action="store_true", help="JSON lines on stdout")
    p.add_argument(
        "--distributed",
        action="store_true",
        help="data-parallel (DDP) under torchrun: torchrun --nproc-per-node N --no-python "
        "spleenscope train ... --distributed; gloo on CPU, nccl on GPUs; rank 0 writes MODEL",
    )
    p.set_defaults(run=run)
    one_line_usage_errors(p)


class StopFlag:
    """Set by SIGTERM / SIGINT; training checks it after every step."""

    def __init__(self) -> None:
        self.set = False

    def __call__(self, *_args) -> bool:
        return self.set

    def trip(self, *_args) -> None:
        self.set = True


def _print_json(event: dict) -> None:
    sys.stdout.write(strict_json.dumps(event) + "\n")
    sys.stdout.flush()


class HumanProgress:
    """tqdm bar per epoch on stderr and one summary line per epoch."""

    def __init__(self) -> None:
        from tqdm import tqdm

        self._tqdm = tqdm
        self.bar = None

    def __call__(self, event: dict) -> None:
        kind = event["event"]
        if kind == "start":
            print(
                f"training on {event['device']}: {event['train_slices']} training slices, "
                f"{event['val_slices']} validation slices, {event['epochs']} epochs",
                file=sys.stderr,
            )
        elif kind == "progress":
            if self.bar is None:
                self.bar = self._tqdm(
                    total=event["steps"],
                    desc=f"epoch {event['epoch']}",
                    unit="step",
                    file=sys.stderr,
                    leave=False,
                    disable=None,
                )
            self.bar.update(event["step"] - self.bar.n)
            self.bar.set_postfix(loss=event["loss"])
        elif kind == "epoch":
            if self.bar is not None:
                self.bar.close()
                self.bar = None
            val = event["val_dice"]
            print(
                f"epoch {event['epoch']}/{event['epochs']}: loss {event['train_loss']:.4f}, "
                f"val Dice {'n/a' if val is None else f'{val:.4f}'} (best "
                f"{event['best_val_dice']}), {event['seconds']:.1f} s, "
                f"about {event['eta_seconds'] / 60:.1f} min left",
                file=sys.stderr,
            )
        elif kind == "done":
            if self.bar is not None:
                self.bar.close()
            state = "stopped" if event["stopped"] else "finished"
            print(
                f"{state} after {event['epochs_run']} epochs; best val Dice "
                f"{event['best_val_dice']}; model: {event['model']}"
            )


def _cases(args):
    from segmentation.datasets import find_cases
    from viewer.errors import SpleenScopeError

    cases = []
    if args.data is not None:
        cases += find_cases(args.data)
    if args.pair:
        cases += find_cases([tuple(pair) for pair in args.pair])
    if not cases:
        raise SpleenScopeError("no training data: give a dataset folder or --pair IMAGE LABEL")
    return cases


def _check_numbers(args) -> None:
    """Refuse settings that cannot train, in one line, before any data is read."""
    from viewer.errors import SpleenScopeError

    checks = (
        (args.epochs >= 1, "--epochs must be at least 1"),
        (args.batch_size >= 1, "--batch-size must be at least 1"),
        (
            args.steps_per_epoch is None or args.steps_per_epoch >= 1,
            "--steps-per-epoch must be at least 1",
        ),
        (args.lr > 0, "--lr must be above 0"),
        (0 <= args.val_fraction < 1, "--val-fraction must be at least 0 and below 1"),
        (args.base_channels >= 1, "--base-channels must be at least 1"),
        (1 <= args.depth <= 7, "--depth must be between 1 and 7"),
        (args.spacing > 0, "--spacing must be above 0 mm"),
        (args.patch_size >= 2**args.depth, "--patch-size must be at least 2**depth pixels"),
        (0 <= args.context_slices <= 5, "--context-slices must be between 0 and 5"),
        (args.threads is None or args.threads >= 1, "--threads must be at least 1"),
    )
    for ok, message in checks:
        if not ok:
            raise SpleenScopeError(message)


def _train(args, progress, stop) -> int:
    from segmentation.training import TrainConfig, train
    from viewer.errors import SpleenScopeError

    if args.output.suffix != ".pt":
        raise SpleenScopeError(f"{args.output}: the model file name must end in .pt")
    _check_numbers(args)
    from viewer.atomic import check_outputs

    check_outputs([args.output], overwrite=True)  # folder writable, a file name: before training
    config = TrainConfig(
        epochs=args.epochs,
        learning_rate=args.lr,
        batch_size=args.batch_size,
        steps_per_epoch=args.steps_per_epoch,
        axis=args.axis,
        val_fraction=args.val_fraction,
        device=args.device,
        seed=args.seed,
        init_from=str(args.init) if args.init else None,
        base_channels=args.base_channels,
        depth=args.depth,
        target_spacing_mm=args.spacing,
        patch_size=args.patch_size,
        resume=args.resume,
        threads=args.threads,
        context_slices=args.context_slices,
    )
    distributed = None
    if args.distributed:
        from segmentation.distributed import start_distributed

        distributed = start_distributed(args.device)
    try:
        train(_cases(args), config, args.output, progress, stop, distributed)
    finally:
        if distributed is not None:
            distributed.close()
    return 0


def run(args: argparse.Namespace) -> int:
    from viewer.errors import SpleenScopeError

    stop = StopFlag()
    previous = {sig: signal.signal(sig, stop.trip) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        if not args.json:
            return _train(args, HumanProgress(), stop)
        try:
            return _train(args, _print_json, stop)
        except SpleenScopeError as error:
            _print_json({"event": "error", "message": str(error)})
            return 2
        except Exception as error:  # the dialog must always get a last line it understands
            message = f"{type(error).__name__}: {error}".splitlines()[0]
            _print_json({"event": "error", "message": message})
            return 1
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
