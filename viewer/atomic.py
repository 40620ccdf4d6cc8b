"""Atomic file writes, and the checks every command makes on its outputs before working.

Every writer in the program (masks, converted volumes, DICOM SEG, model files, model
cards, reports, recovery copies, settings) goes through :func:`atomic_path`: the content
is written to a temporary file in the destination folder (same file system, so the
final step is atomic) and moved to the target only once complete.

- No overwrite unless asked: with ``overwrite=False`` the final step is a hard link,
  which fails if the target appeared meanwhile, so two runs racing for one new name
  cannot both "succeed" (the exists check and the write are one atomic step).
- Temporary files are named ``.<target>.spleenscope-tmp-<pid>-<random><suffix>`` and
  removed on every exit path that runs code (errors, Ctrl+C, SIGTERM through the CLI's
  handler). A process killed outright (kill -9, power loss) leaves one behind; the
  next write into that folder removes every such file whose process is gone.

:func:`check_outputs` is what a command calls before any long work: folder exists
and is writable, the name is legal and not a folder, outputs do not collide with
each other or with the input, nothing is overwritten unless asked.
"""

from __future__ import annotations

import errno
import os
import re
import secrets
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from viewer.errors import SpleenScopeError

TEMPORARY_MARK = ".spleenscope-tmp-"
_TEMPORARY_NAME = re.compile(r"^\..*\.spleenscope-tmp-(\d+)-[0-9a-f]+")


class OutputPathError(SpleenScopeError):
    """An output cannot be written where the user asked (checked before any work)."""


def _current_umask() -> int:
    # os.umask can only be read by setting it; set it straight back.
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def temporary_name(path: Path, suffix: str) -> str:
    """The recognisable name of a temporary file for ``path``.

    The target's name is shortened when needed, so that any name the folder allows
    (up to NAME_MAX bytes) still gets a temporary file beside it.
    """
    tail = f"{TEMPORARY_MARK}{os.getpid()}-{secrets.token_hex(4)}{suffix}"
    room = _pathconf(path.parent, "PC_NAME_MAX", 255) - 1 - len(os.fsencode(tail))
    stem = os.fsencode(path.name)[: max(1, room)]
    return "." + os.fsdecode(stem) + tail


def clear_stale_temporaries(folder: Path) -> int:
    """Remove temporary files left in ``folder`` by processes that no longer run."""
    removed = 0
    try:
        names = [entry.name for entry in os.scandir(folder) if TEMPORARY_MARK in entry.name]
    except OSError:
        return 0
    for name in names:
        match = _TEMPORARY_NAME.match(name)
        if not match or _process_alive(int(match.group(1))):
            continue
        with suppress(OSError):
            (folder / name).unlink()
            removed += 1
    return removed


def _process_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True  # someone else's process: leave its files alone
    return True


@contextmanager
def atomic_path(
    path: str | Path, suffix: str = ".tmp", *, overwrite: bool = True
) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it becomes ``path``.

    ``suffix`` lets writers that pick a format by extension (nibabel: ``.nii.gz``) see
    the right one. The file gets the usual permissions (0666 less the umask), not a
    private 0600, so other users can read what was saved for them. With
    ``overwrite=False`` an existing ``path`` is never replaced, even one created by
    another process while this one was writing.
    """
    path = Path(path)
    clear_stale_temporaries(path.parent)
    temporary = path.parent / temporary_name(path, suffix)
    handle = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.close(handle)
    try:
        yield temporary
        os.chmod(temporary, 0o666 & ~_current_umask())
        if overwrite:
            os.replace(temporary, path)
        else:
            _move_without_overwrite(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def _move_without_overwrite(temporary: Path, path: Path) -> None:
    try:
        os.link(temporary, path)  # fails if path exists: check and write in one step
    except FileExistsError:
        raise OutputPathError(
            f"{path.name}: already exists (created while this run was writing); "
            "choose another name or pass --overwrite"
        ) from None
    except OSError as error:
        if error.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV):
            raise
        # No hard links here (FAT, some network shares): reserve the name exclusively.
        try:
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        except FileExistsError:
            raise OutputPathError(
                f"{path.name}: already exists; choose another name or pass --overwrite"
            ) from None
        os.replace(temporary, path)


def write_text_atomically(path: str | Path, text: str, *, overwrite: bool = True) -> Path:
    """Write UTF-8 text to ``path`` atomically."""
    path = Path(path)
    with atomic_path(path, overwrite=overwrite) as temporary:
        temporary.write_text(text, encoding="utf-8", newline="")
    return path


# ------------------------------------------------------------------ checks before work
def check_outputs(
    outputs: Iterable[str | Path | None],
    inputs: Iterable[str | Path | None] = (),
    *,
    overwrite: bool = False,
) -> list[Path]:
    """Refuse, before any work, outputs that cannot or must not be written.

    Each output: a legal name (length, no NUL) that is not a folder, in an existing
    folder this process can create files in (really tried, so read-only disks and
    permissions show up now, not after a long segmentation), not an existing file
    unless ``overwrite``, not the input nor inside an input folder, and no two
    outputs the same file. Returns the outputs given (``None`` entries dropped).
    """
    chosen = [Path(p) for p in outputs if p is not None]
    sources = [Path(p) for p in inputs if p]
    seen: dict[str, Path] = {}
    for path in chosen:
        _check_name(path)
        key = _identity(path)
        if key in seen:
            raise OutputPathError(
                f"{_shown(path)}: given as two different outputs; choose a separate name for each"
            )
        seen[key] = path
        for source in sources:
            resolved_source = _resolved(source)
            target = _resolved(path)
            if target == resolved_source or (
                resolved_source.is_dir() and resolved_source in target.parents
            ):
                raise OutputPathError(
                    f"{_shown(path)}: refusing to write over or inside the input; "
                    "choose another output path"
                )
        if path.is_dir():
            raise OutputPathError(f"{_shown(path)}: is a folder; give a file name inside it")
        if (path.exists() or path.is_symlink()) and not overwrite:
            raise OutputPathError(
                f"{_shown(path)}: already exists; choose another name or pass --overwrite"
            )
        _check_folder_writable(path.parent)
    return chosen


def _shown(path: Path) -> str:
    return path.name or str(path)


def _resolved(path: Path) -> Path:
    try:
        return path.resolve()
    except (OSError, RuntimeError):
        return path.absolute()


def _identity(path: Path) -> str:
    return os.path.normcase(str(_resolved(path)))


def _check_name(path: Path) -> None:
    name = path.name
    if not name or name in (".", ".."):
        raise OutputPathError(f"{path}: not a file name; give a file name for the output")
    if "\0" in str(path):
        raise OutputPathError("the output name holds a NUL character; choose another name")
    encoded = os.fsencode(name)
    try:
        folder = path.parent if path.parent.is_dir() else Path(".")
    except OSError:  # the folder's own path is already too long
        folder = Path(".")
    name_max = _pathconf(folder, "PC_NAME_MAX", 255)
    if len(encoded) > name_max:
        raise OutputPathError(
            f"the output file name is {len(encoded)} bytes long, more than the {name_max} this "
            "folder allows; choose a shorter name"
        )
    path_max = _pathconf(folder, "PC_PATH_MAX", 4096)
    if len(os.fsencode(str(path.absolute()))) >= path_max:
        raise OutputPathError(
            f"the output path is longer than the {path_max} bytes the system allows; "
            "choose a shorter folder or name"
        )


def _pathconf(folder: Path, key: str, default: int) -> int:
    try:
        value = os.pathconf(folder, key)
    except (OSError, ValueError):
        return default
    return value if value and value > 0 else default


def _check_folder_writable(folder: Path) -> None:
    shown = str(folder) if str(folder) not in ("", ".") else "the current folder"
    if not folder.exists():
        raise OutputPathError(f"{shown}: no such folder; create it or choose another path")
    if not folder.is_dir():
        raise OutputPathError(f"{shown}: is not a folder; choose an output inside a folder")
    probe = folder / f".probe{TEMPORARY_MARK}{os.getpid()}-{secrets.token_hex(4)}"
    try:
        os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except OSError as error:
        reason = {
            errno.EACCES: "permission denied",
            errno.EPERM: "permission denied",
            errno.EROFS: "the disk is read-only",
            errno.ENOSPC: "the disk is full",
            errno.EDQUOT: "the disk quota is used up",
        }.get(error.errno, error.strerror or type(error).__name__)
        raise OutputPathError(
            f"{shown}: cannot write there ({reason}); choose a folder you can write to"
        ) from None
    probe.unlink(missing_ok=True)
