"""The one error type the program raises for problems a user can act on.

Every message is a single line that says what is wrong and what to do about it.
The CLI prints it and exits 2; the GUI shows it in a dialog and keeps running.
Messages must never contain patient-identifying header values.
"""

from __future__ import annotations


class SpleenScopeError(Exception):
    """A problem with the user's input that the user can fix."""


class UnreadableFileError(SpleenScopeError):
    """The file is missing, truncated, corrupt, or of a format we do not read."""


class SeriesSelectionError(SpleenScopeError):
    """A folder holds several series and the caller must choose one.

    ``series`` lists :class:`viewer.io.dicom_series.SeriesInfo` summaries so a caller
    (CLI or series picker dialog) can present the choice.
    """

    def __init__(self, message: str, series: list | None = None) -> None:
        super().__init__(message)
        self.series = list(series or [])


class GeometryError(SpleenScopeError):
    """Slices do not form one regular volume (gaps, mixed orientations, duplicates)."""


class VolumeTooLargeError(SpleenScopeError):
    """A header declares a size we refuse to allocate."""


class ModelFileError(SpleenScopeError):
    """A model file is corrupt, of another format, or made by an incompatible version."""
