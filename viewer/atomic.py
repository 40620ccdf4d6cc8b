"""Atomic file writes: a crash or a full disk never leaves half a file under the real name.

Every writer in the program (masks, converted volumes, DICOM SEG, model files, model
cards, reports, recovery copies, settings) goes through :func:`atomic_path`: the content
is written to a temporary file in the destination folder (same file system, so the
final ``os.replace`` is atomic) and renamed over the target only once complete.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def _current_umask() -> int:
    # os.umask can only be read by setting it; set it straight back.
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextmanager
def atomic_path(path: str | Path, suffix: str = ".tmp") -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path``.

    ``suffix`` lets writers that pick a format by extension (nibabel: ``.nii.gz``) see
    the right one. The file gets the usual permissions (0666 less the umask), not
    mkstemp's private 0600, so other users can read what was saved for them.
    """
    path = Path(path)
    handle, temporary_name = tempfile.mkstemp(
        prefix=f".{path.name}.", suffix=suffix, dir=path.parent
    )
    os.close(handle)
    temporary = Path(temporary_name)
    try:
        yield temporary
        os.chmod(temporary, 0o666 & ~_current_umask())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def write_text_atomically(path: str | Path, text: str) -> Path:
    """Write UTF-8 text to ``path`` atomically."""
    path = Path(path)
    with atomic_path(path) as temporary:
        temporary.write_text(text, encoding="utf-8", newline="")
    return path
