"""The ``spleenscope`` command: a thin layer that parses arguments and calls the library.

Each subcommand lives in its own module with ``add_parser(subparsers)`` and
``run(args) -> int``. Modules import their heavy dependencies inside ``run`` so that
``spleenscope info`` never loads torch and only ``view`` loads Qt.
"""

from __future__ import annotations

import argparse
import errno
import importlib
import sys
from pathlib import Path

from viewer.errors import SpleenScopeError

SUBCOMMANDS = (
    "info", "convert", "segment", "train", "evaluate", "view", "batch", "pacs",
    "export_images", "import_images", "survey", "models",
)  # fmt: skip


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="spleenscope",
        description="View CT/MR volumes in true geometry and segment the spleen.",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in SUBCOMMANDS:
        importlib.import_module(f"viewer.cli.{name}").add_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command. The error boundary: whatever goes wrong, stderr gets one line.

    Expected problems (:class:`SpleenScopeError`, disk full, permissions) print their
    message and exit 2; anything unexpected prints one line naming the header field
    when it can be told (never a value) and exits 1, with the scrubbed traceback in the
    log file. Library logging and warnings go to that file, never to stderr.
    """
    from viewer.log_file import configure_logging, describe_unexpected, log_unexpected

    _tolerate_undecodable_names()
    parser = build_parser()
    args = parser.parse_args(argv)
    configure_logging(debug=args.debug)
    _terminate_cleanly_on_sigterm()
    try:
        return int(args.run(args) or 0)
    except SpleenScopeError as error:
        if args.debug:
            raise
        return _fail(str(error), 2)
    except KeyboardInterrupt:
        print("spleenscope: interrupted", file=sys.stderr)
        return 130
    except MemoryError:
        return _fail("out of memory; try a smaller volume or close other programs", 2)
    except BrokenPipeError:
        return 0  # the reader of our output went away (``| head``): not an error
    except OSError as error:
        if args.debug:
            raise
        log_unexpected(error, f"the {args.command} command")
        return _fail(describe_os_error(error), 2)
    except Exception as error:  # noqa: BLE001 - the boundary: nothing may escape as a traceback
        if args.debug:
            raise
        log_unexpected(error, f"the {args.command} command")
        return _fail(describe_unexpected(error), 1)


def _fail(message: str, code: int) -> int:
    line = " ".join(message.split())  # one line, whatever the message held
    print(f"spleenscope: error: {line}", file=sys.stderr)
    return code


def describe_os_error(error: OSError) -> str:
    """Disk full, permission denied, name too long...: one line naming the file."""
    name = Path(error.filename).name if error.filename else "a file"
    advice = {
        errno.ENOSPC: "the disk is full; free some space and run again",
        errno.EDQUOT: "the disk quota is used up; free some space and run again",
        errno.EACCES: "permission denied; choose a folder you can write to",
        errno.EPERM: "permission denied; choose a folder you can write to",
        errno.EROFS: "the folder is on a read-only disk; choose another folder",
        errno.ENAMETOOLONG: "the path is too long; choose a shorter name or folder",
        errno.ENOENT: "no such file or folder; check the path",
        errno.EISDIR: "is a folder, not a file; give a file name",
    }.get(error.errno, f"{error.strerror or type(error).__name__}; check the path")
    return f"{name}: {advice}"


def _tolerate_undecodable_names() -> None:
    """Print file names that are not valid in the locale's encoding (escaped), not crash."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            try:
                reconfigure(errors="backslashreplace")
            except (ValueError, OSError):
                pass


def _terminate_cleanly_on_sigterm() -> None:
    """SIGTERM unwinds like Ctrl+C, so temporary files are removed on the way out."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    try:
        signal.signal(signal.SIGTERM, interrupt)
    except (ValueError, OSError):
        pass
