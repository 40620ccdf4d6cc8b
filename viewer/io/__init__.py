"""Readers and writers: files and folders in, :class:`viewer.volume.Volume` out.

Qt-free and torch-free. Every problem a user can fix raises a
:class:`viewer.errors.SpleenScopeError` subclass with a one-line message.
"""

from __future__ import annotations

from viewer.io.load import load_volume

__all__ = ["load_volume"]
