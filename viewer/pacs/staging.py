"""A retrieved series appears under its final name complete, or not at all.

Instances arrive in a hidden sibling folder (``.partial-...``); only when the
retrieve has finished and the count is right is it renamed to the final name (one
``os.rename`` on the same file system). Cancel, a dropped connection or a short
count delete the hidden folder, so a viewer never opens half a series.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from viewer.pacs.errors import PacsError

ProgressCallback = Callable[[int, "int | None"], None]  # (arrived, expected or None)
CancelCheck = Callable[[], bool]
_UID = re.compile(r"^[0-9.]{1,64}$")


def instance_file_name(sop_instance_uid: str, fallback_index: int) -> str:
    """``<SOP Instance UID>.dcm``; a counter when the UID is not a plain UID (never a
    header value that could identify the patient)."""
    uid = str(sop_instance_uid).strip().rstrip("\0")
    return f"{uid}.dcm" if _UID.match(uid) else f"instance-{fallback_index:05d}.dcm"


def check_destination(final: Path) -> None:
    """Refuse before any network work when the series folder is already there."""
    if final.exists():
        raise PacsError(f"{final}: already exists; choose another output folder or remove it first")


@contextmanager
def staged_folder(final: Path) -> Iterator[Path]:
    """Yield a hidden folder beside ``final``; rename it to ``final`` when the block succeeds."""
    final = Path(final)
    check_destination(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(prefix=f".partial-{final.name}-", dir=final.parent))
    try:
        yield partial
        os.chmod(partial, 0o777 & ~_umask())
        os.rename(partial, final)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask
