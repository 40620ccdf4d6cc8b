"""Saving never leaves half a file under the real name, and saved files are readable."""

from __future__ import annotations

import os
import stat

import pytest

from viewer.atomic import atomic_path, write_text_atomically


def test_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "report.json"
    target.write_text("previous result")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as temporary:
            temporary.write_text("half of the new")
            raise RuntimeError("disk full")
    assert target.read_text() == "previous result"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.json"]


def test_written_file_has_umask_permissions_not_private(tmp_path):
    old = os.umask(0o022)
    try:
        path = write_text_atomically(tmp_path / "card.md", "# model")
    finally:
        os.umask(old)
    assert path.read_text() == "# model"
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
