"""``spleenscope view``: open the viewer window (or render it to a PNG and exit).

``--screenshot OUT.png`` loads, applies the mask, preset and cursor, renders the
whole window once and exits, so it works with ``QT_QPA_PLATFORM=offscreen``.
Qt is imported inside :func:`run` only.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time

from viewer.errors import SpleenScopeError

log = logging.getLogger(__name__)

#: the window size of a ``--screenshot`` when no ``--size`` is given
SCREENSHOT_SIZE = "1600x1000"


def parse_cursor(text: str) -> tuple[float, float, float]:
    """``"X,Y,Z"`` in RAS mm."""
    try:
        values = tuple(float(v) for v in text.replace(" ", "").split(","))
    except ValueError:
        values = ()
    if len(values) != 3:
        raise SpleenScopeError(f"--cursor {text!r}: give three numbers X,Y,Z in RAS mm")
    return values  # type: ignore[return-value]


def parse_size(text: str) -> tuple[int, int]:
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise SpleenScopeError(f"--size {text!r}: give WIDTHxHEIGHT, e.g. 1600x1000") from None
    return width, height


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "view",
        help="open the viewer (three linked views, overlays, readout)",
        description="Open the viewer window on an image, or render it to a PNG.",
    )
    p.add_argument("path", nargs="?", help="NIfTI file, DICOM file or DICOM folder")
    p.add_argument("--mask", help="label map to overlay (resampled onto the image if needed)")
    p.add_argument("--preset", help="window preset: abdomen, liver, lung, bone, brain, header, auto")
    p.add_argument("--cursor", help="crosshair position X,Y,Z in RAS mm (write --cursor=-10,5,0 when X is negative)")
    p.add_argument("--screenshot", metavar="OUT.png", help="render the window to a PNG and exit")
    p.add_argument("--phantom", action="store_true", help="open the synthetic phantom")
    p.add_argument("--series", type=int, help="series number (0-based) when a folder holds several")
    p.add_argument("--layout", choices=("2x2", "1x3"), default="2x2", help="view layout")
    p.add_argument("--size", help="window size WIDTHxHEIGHT (default: last time's size, "
                                  f"else 90 %% of the screen; {SCREENSHOT_SIZE} for --screenshot)")
    p.add_argument("--neurological", action="store_true",
                   help="patient left on the screen's left (default: radiological)")
    p.add_argument("--segment", action="store_true",
                   help="segment the spleen with the active model once loaded (waits for it)")
    p.add_argument("--reference", metavar="REF", help="reference mask to compare with (QA panel)")
    p.add_argument("--prediction", metavar="PRED",
                   help="prediction mask to review (instead of running a model)")
    p.set_defaults(run=run)


def _validate(args: argparse.Namespace) -> None:
    from viewer.window_level import preset_by_key

    if not args.path and not args.phantom and args.screenshot:
        raise SpleenScopeError("give a PATH or --phantom to take a screenshot of")
    if args.preset and args.preset not in ("header", "auto"):
        try:
            preset_by_key(args.preset)
        except KeyError as error:
            raise SpleenScopeError(str(error.args[0])) from None


def run(args: argparse.Namespace) -> int:
    _validate(args)
    cursor = parse_cursor(args.cursor) if args.cursor else None
    size = parse_size(args.size or SCREENSHOT_SIZE) if (args.size or args.screenshot) else None
    started = time.perf_counter()

    from PyQt5.QtCore import QTimer

    from viewer.ui.app import collect_garbage_on_the_gui_thread, create_app
    from viewer.ui.main_window import MainWindow

    app = create_app()
    collector = collect_garbage_on_the_gui_thread()  # noqa: F841 (lives as long as the app)
    window = MainWindow()
    window.headless = bool(args.screenshot)
    window.set_layout_mode(args.layout)
    if args.neurological:
        window.act_radiological.setChecked(False)
    if size is not None:
        window.resize(*size)
    else:
        window.place_on_screen()
    window.show()
    outcome = {"rc": 0}

    def fail(message: str) -> None:
        print(f"spleenscope: error: {message}", file=sys.stderr)
        outcome["rc"] = 2
        app.quit()

    def after_load(volume) -> None:
        if volume is None:
            return
        window.volume_changed.disconnect(after_load)
        try:
            if args.mask:
                window.open_mask(args.mask)
            elif args.phantom:
                _add_phantom_mask(window)
        except SpleenScopeError as error:
            if args.screenshot:
                fail(str(error))
                return
            window.show_error(str(error), "Could not open the mask")
        if args.preset:
            window.apply_preset(args.preset)
        if cursor is not None:
            window.set_cursor_world(cursor)
        if args.segment or args.reference or args.prediction:
            from viewer.ui.segmentation_ui import run_cli_steps

            then = (lambda: QTimer.singleShot(0, shoot)) if args.screenshot else None
            run_cli_steps(window, args, then=then, fail=fail if args.screenshot else None)
            return
        if args.screenshot:
            QTimer.singleShot(0, shoot)

    def shoot() -> None:
        if not window.save_screenshot(args.screenshot):
            fail(f"could not write {args.screenshot}; check the folder exists")
            return
        log.info("first picture after %.2f s", time.perf_counter() - started)
        app.quit()

    def unexpected(kind, error, trace) -> None:
        """The GUI boundary: an exception escaping a Qt slot becomes one line (a dialog
        in the window), never a traceback on stderr nor a screenshot run that never ends."""
        if issubclass(kind, KeyboardInterrupt):
            app.quit()
            return
        from viewer.log_file import describe_unexpected, log_unexpected

        log_unexpected(error, "the window")
        message = str(error) if isinstance(error, SpleenScopeError) else describe_unexpected(error)
        if args.screenshot:
            fail(message)
        else:
            window.show_error(message, "Something went wrong")

    previous_hook, sys.excepthook = sys.excepthook, unexpected
    window.volume_changed.connect(after_load)
    if args.screenshot:
        window.load_failed.connect(fail)
    if args.phantom:
        from viewer.phantom import make_phantom

        QTimer.singleShot(0, lambda: window.set_volume(make_phantom().volume()))
    elif args.path:
        QTimer.singleShot(0, lambda: window.open_path(args.path, series=args.series))
    try:
        code = app.exec_()
    finally:
        sys.excepthook = previous_hook
    _wait_for_threads(window)
    return outcome["rc"] or int(code)


def _wait_for_threads(window, timeout_ms: int = 10000) -> None:
    """Let the background work the window or its tools started (loading, model
    listing, ...) end before Python tears the widgets down: a QThread destroyed
    while running aborts the process, which made ``--screenshot`` fail now and then."""
    from viewer.ui.background import wait_for_all

    if not wait_for_all(timeout_ms):
        log.warning("background work did not end in %d ms", timeout_ms)


def _add_phantom_mask(window) -> None:
    """The phantom's own spleen mask, so ``make run`` without data shows an overlay."""
    from viewer.overlays import OverlayLayer
    from viewer.phantom import make_phantom

    window.set_overlay(OverlayLayer(name="phantom spleen",
                                    labels=make_phantom().canonical_mask(),
                                    label_names={1: "spleen"}))
