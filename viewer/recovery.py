"""Recovery copies of unsaved masks, so a crash never costs a segmentation (Qt-free).

While a mask is unsaved the app keeps a copy under the user's data folder
(``platformdirs.user_data_dir("spleenscope")/recovery``, or ``$SPLEENSCOPE_HOME/recovery``
as for models, see :func:`segmentation.registry.base_dir`): the mask as NIfTI on
the canonical grid, and a small JSON sidecar saying which input it belongs to.
Saving or discarding the mask deletes the copy; a copy still there at the next
start means the program did not end normally, and the app offers it back.

The sidecar holds the input's path (needed to reopen it); it stays in the user's
own folder and never goes into exported files.
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import os
import uuid
from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np

from viewer.atomic import atomic_path, write_text_atomically
from viewer.grid import same_grid
from viewer.volume import Volume

log = logging.getLogger(__name__)

MASK_SUFFIX = ".mask.nii.gz"
META_SUFFIX = ".json"


def recovery_dir() -> Path:
    """Where recovery copies live (created on first use)."""
    from segmentation.registry import base_dir  # torch-free; shares SPLEENSCOPE_HOME

    path = base_dir() / "recovery"
    path.mkdir(parents=True, exist_ok=True)
    return path


@dataclass(frozen=True)
class RecoveryEntry:
    """One recovery copy found on disk."""

    key: str
    mask_path: Path
    meta_path: Path
    meta: dict

    @property
    def source_path(self) -> str:
        return str(self.meta.get("source_path", ""))

    @property
    def created(self) -> str:
        return str(self.meta.get("created", ""))

    def describe(self) -> str:
        name = Path(self.source_path).name or "an image"
        when = self.created.replace("T", " ")[:16]
        return f"{self.meta.get('voxels', '?')} voxel mask of {name} ({when} UTC)"

    def load_mask(self) -> tuple[np.ndarray, np.ndarray]:
        """``(mask uint8, affine)`` on the canonical grid the mask was made on."""
        image = nib.load(str(self.mask_path))
        return np.asarray(image.dataobj, dtype=np.uint8), image.affine

    def matches(self, volume: Volume) -> bool:
        """True when ``volume`` has the grid the mask was made on."""
        shape, affine = self.meta.get("shape"), self.meta.get("affine")
        return shape is not None and affine is not None and same_grid(
            volume.affine, volume.shape, affine, shape
        )


def new_key() -> str:
    """A fresh name for one session's recovery copy."""
    return f"{_dt.datetime.now(_dt.timezone.utc):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"


def write_recovery(key: str, volume: Volume, mask: np.ndarray, extra: dict | None = None
                   ) -> RecoveryEntry:
    """Write (or replace) the recovery copy ``key`` of ``mask`` made on ``volume``."""
    folder = recovery_dir()
    mask_path = folder / f"{key}{MASK_SUFFIX}"
    meta_path = folder / f"{key}{META_SUFFIX}"
    mask = (np.asarray(mask) > 0).astype(np.uint8)
    image = nib.Nifti1Image(mask, volume.affine)
    image.header["descrip"] = b"SpleenScope recovery"
    # the mask first: a sidecar without its mask is ignored by find_recoveries
    with atomic_path(mask_path, suffix=".tmp.nii.gz") as temporary:
        nib.save(image, temporary)
    meta = {
        "source_path": volume.source_path,
        "shape": [int(v) for v in volume.shape],
        "affine": np.asarray(volume.affine, float).tolist(),
        "voxels": int(np.count_nonzero(mask)),
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "pid": os.getpid(),
        **(extra or {}),
    }
    write_text_atomically(meta_path, json.dumps(meta, indent=1))
    log.info("recovery copy %s written", key)
    return RecoveryEntry(key, mask_path, meta_path, meta)


def remove_recovery(key: str) -> None:
    """Delete the recovery copy ``key`` (nothing happens when it is not there)."""
    folder = recovery_dir()
    for suffix in (MASK_SUFFIX, META_SUFFIX):
        (folder / f"{key}{suffix}").unlink(missing_ok=True)


def find_recoveries(exclude_pid: int | None = None) -> list[RecoveryEntry]:
    """Recovery copies left by earlier runs, newest first (unreadable ones are skipped).

    ``exclude_pid`` leaves out copies this very process is keeping up to date.
    """
    entries = []
    for meta_path in recovery_dir().glob(f"*{META_SUFFIX}"):
        key = meta_path.name[: -len(META_SUFFIX)]
        mask_path = meta_path.with_name(f"{key}{MASK_SUFFIX}")
        if not mask_path.is_file():
            continue
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            log.warning("skipping unreadable recovery sidecar %s", meta_path.name)
            continue
        if exclude_pid is not None and meta.get("pid") == exclude_pid:
            continue
        entries.append(RecoveryEntry(key, mask_path, meta_path, meta))
    entries.sort(key=lambda e: e.created, reverse=True)
    return entries
