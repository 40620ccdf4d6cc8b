"""The log file, and the one-line description of an unexpected error.

Everything the libraries say (nibabel, pydicom, highdicom, torch, Python warnings)
goes to one rotating log file in the user's log folder, never to stderr on its own:
on failure the CLI prints exactly one line. Header values never reach the file
either: every record passes :func:`scrub`, which blanks quoted values (where
exception messages put them: ``could not convert string to float: '...'``).

At the CLI and GUI boundary :func:`describe_unexpected` turns any exception into
one line that names the header field involved when it can tell (from a DICOM tag
or keyword in the message or the failing frames), never the value, and points at
the log file, where :func:`log_unexpected` wrote the scrubbed traceback.

``SPLEENSCOPE_LOG_DIR`` overrides the folder (tests, read-only homes).
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import re
import sys
import tempfile
import threading
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

LOG_NAME = "spleenscope.log"
LOG_BYTES = 2_000_000
LOG_BACKUPS = 3
THIRD_PARTY_LOGGERS = ("nibabel", "nibabel.global", "pydicom", "highdicom", "torch", "PIL", "ray")
FILE_FORMAT = "%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s"
_active_path: Path | None = None  # where configure_logging really writes

# 'text', "text", b'bytes': how Python quotes values in exception messages.
_QUOTED = re.compile(r"""b?'(?:[^'\\\n]|\\.)*'|b?"(?:[^"\\\n]|\\.)*\"""")
_TRACEBACK_FILE = re.compile(r'^\s*File "[^"\n]*", line \d+, in \S+$')
_DICOM_TAG = re.compile(r"\(\s*([0-9A-Fa-f]{4})\s*,\s*([0-9A-Fa-f]{4})\s*\)")
_KEYWORD_SHAPE = re.compile(r"^[A-Z][a-z0-9]+(?:[A-Z][a-z0-9]*)+$")
_WORD = re.compile(r"\b[A-Za-z][A-Za-z0-9_]{2,}\b")
# Header fields of the formats we read whose names may appear in a message.
NIFTI_FIELDS = frozenset(
    "sizeof_hdr dim_info dim intent_p1 intent_p2 intent_p3 intent_code datatype bitpix "
    "slice_start pixdim vox_offset scl_slope scl_inter slice_end slice_code xyzt_units "
    "cal_max cal_min slice_duration toffset descrip aux_file qform_code sform_code "
    "quatern_b quatern_c quatern_d qoffset_x qoffset_y qoffset_z srow_x srow_y srow_z "
    "intent_name magic".split()
)


def log_folder() -> Path:
    override = os.environ.get("SPLEENSCOPE_LOG_DIR")
    if override:
        return Path(override)
    from platformdirs import user_log_dir

    return Path(user_log_dir("spleenscope", appauthor=False))


def log_file_path() -> Path:
    return log_folder() / LOG_NAME


def scrub(text: str) -> str:
    """``text`` with every quoted value replaced by ``'…'``.

    The ``File "...", line N`` lines of a traceback keep their (source file) paths.
    """
    return "\n".join(
        line if _TRACEBACK_FILE.match(line) else _QUOTED.sub("'…'", line)
        for line in text.split("\n")
    )


class ScrubFilter(logging.Filter):
    """Formats each record's message, then blanks the quoted values in it."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a broken format string must not kill logging
            message = str(record.msg)
        record.msg, record.args = scrub(message), None
        if record.exc_info:
            record.msg += "\n" + scrubbed_traceback(record.exc_info[1])
            record.exc_info, record.exc_text = None, None
        return True


def configure_logging(debug: bool = False) -> Path | None:
    """Send every log record and warning to the log file; stderr only with ``debug``.

    Returns the log file's path, or None when no log folder is writable (then the
    records are dropped rather than printed: stderr stays one line).
    """
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_spleenscope", False):
            root.removeHandler(handler)
            handler.close()
    root.setLevel(logging.DEBUG if debug else logging.INFO)
    for name in THIRD_PARTY_LOGGERS:
        library = logging.getLogger(name)
        for handler in list(library.handlers):
            if isinstance(handler, logging.StreamHandler) and not isinstance(
                handler, logging.FileHandler
            ):
                library.removeHandler(handler)  # nibabel prints to stderr by itself
        library.propagate = True
        if name != "torch":  # torch's INFO level prints its own statistics at exit
            library.setLevel(logging.DEBUG if debug else logging.WARNING)
    logging.captureWarnings(True)
    global _active_path
    path = _active_path = _open_file_handler(root)
    if debug:
        stream = logging.StreamHandler(sys.stderr)
        stream.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        stream.addFilter(ScrubFilter())
        stream._spleenscope = True  # type: ignore[attr-defined]
        root.addHandler(stream)
    return path


def _open_file_handler(root: logging.Logger) -> Path | None:
    for folder in (log_folder(), Path(tempfile.gettempdir()) / "spleenscope-logs"):
        try:
            folder.mkdir(parents=True, exist_ok=True)
            handler = logging.handlers.RotatingFileHandler(
                folder / LOG_NAME,
                maxBytes=LOG_BYTES,
                backupCount=LOG_BACKUPS,
                encoding="utf-8",
                errors="backslashreplace",  # non-UTF-8 file names in messages
            )
        except OSError:
            continue
        handler.setFormatter(logging.Formatter(FILE_FORMAT))
        handler.addFilter(ScrubFilter())
        handler._spleenscope = True  # type: ignore[attr-defined]
        root.addHandler(handler)
        return folder / LOG_NAME
    null = logging.NullHandler()
    null._spleenscope = True  # type: ignore[attr-defined]
    root.addHandler(null)
    return None


# ------------------------------------------------------------------ unexpected errors
def scrubbed_traceback(error: BaseException) -> str:
    """The full traceback (chained causes included) with quoted values blanked."""
    lines = traceback.format_exception(type(error), error, error.__traceback__)
    return scrub("".join(lines)).rstrip()


def log_unexpected(error: BaseException, context: str) -> None:
    logging.getLogger("spleenscope.boundary").error(
        "unexpected %s during %s\n%s", type(error).__name__, context, scrubbed_traceback(error)
    )


def field_of(error: BaseException) -> str | None:
    """The header field an exception is about, when its message or frames tell."""
    message = str(error)
    keyword = _keyword_for_tag_text(message)
    if keyword:
        return keyword
    for word in _WORD.findall(scrub(message)):
        if word in NIFTI_FIELDS or _is_dicom_keyword(word):
            return word
    tb = error.__traceback__
    frames = []
    while tb is not None:
        frames.append(tb.tb_frame)
        tb = tb.tb_next
    for frame in reversed(frames):  # innermost first
        named = _field_in_locals(frame.f_locals)
        if named:
            return named
    return None


def _field_in_locals(names: dict) -> str | None:
    tag = names.get("tag")
    if isinstance(tag, int) and not isinstance(tag, bool):
        keyword = _keyword_for_tag(int(tag))
        if keyword:
            return keyword
    for key in ("keyword", "field", "attribute", "name"):
        value = names.get(key)
        if isinstance(value, str) and (value in NIFTI_FIELDS or _is_dicom_keyword(value)):
            return value
    return None


def _keyword_for_tag_text(message: str) -> str | None:
    match = _DICOM_TAG.search(message)
    if not match:
        return None
    keyword = _keyword_for_tag(int(match.group(1) + match.group(2), 16))
    return keyword or f"({match.group(1)},{match.group(2)})"


def _keyword_for_tag(tag: int) -> str | None:
    if "pydicom" not in sys.modules:
        return None
    from pydicom.datadict import keyword_for_tag

    try:
        return keyword_for_tag(tag) or None
    except Exception:  # noqa: BLE001 - any odd tag number
        return None


def _is_dicom_keyword(word: str) -> bool:
    # CamelCase of two words or more: "InstanceNumber", not an English "Reference".
    if "pydicom" not in sys.modules or not _KEYWORD_SHAPE.match(word):
        return False
    from pydicom.datadict import tag_for_keyword

    return tag_for_keyword(word) is not None


def describe_unexpected(error: BaseException) -> str:
    """One line for an exception nobody anticipated: the field if known, never a value."""
    kind = type(error).__name__
    where = _active_path or log_file_path()
    field = field_of(error)
    if field:
        return (
            f"header field {field} holds a value that could not be used ({kind}); the input "
            f"is probably damaged, re-export it (details in {where})"
        )
    return f"unexpected internal error ({kind}); details in {where}, please report it"


# ------------------------------------------------------------------ native libraries
_native_lock = threading.Lock()
_native_depth = 0
_native_saved: tuple[int, object] | None = None


@contextmanager
def native_output_to_log() -> Iterator[None]:
    """Send what compiled libraries print straight to file descriptor 2 into the log.

    ITK, the Rust and C image decoders and Qt write warnings (and panic reports)
    to the process's stderr themselves, past Python's logging; a reader wraps its
    work in this so stderr stays one line. Nested and concurrent uses share one
    redirection; when the process has no usable stderr it does nothing.
    """
    global _native_depth, _native_saved
    with _native_lock:
        if _native_depth == 0:
            _native_saved = _redirect_stderr()
        _native_depth += 1
    try:
        yield
    finally:
        with _native_lock:
            _native_depth -= 1
            if _native_depth == 0 and _native_saved is not None:
                _restore_stderr(*_native_saved)
                _native_saved = None


def _redirect_stderr() -> tuple[int, object] | None:
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError, AttributeError):
        return None
    capture = tempfile.TemporaryFile()
    os.dup2(capture.fileno(), 2)
    return saved, capture


def _restore_stderr(saved: int, capture) -> None:
    try:
        sys.stderr.flush()
    except (OSError, ValueError):
        pass
    os.dup2(saved, 2)
    os.close(saved)
    capture.seek(0)
    text = capture.read(200_000).decode("utf-8", "replace").strip()
    capture.close()
    if text:
        logging.getLogger("spleenscope.native").warning("a library printed:\n%s", text)
