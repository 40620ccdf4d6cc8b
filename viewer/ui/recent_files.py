"""Recently opened files and folders, kept in QSettings (organization "SpleenScope")."""

from __future__ import annotations

from pathlib import Path

from PyQt5.QtCore import QSettings

ORGANIZATION = "SpleenScope"
APPLICATION = "SpleenScope"
KEY = "recent_files"
FOLDER_KEY = "last_folder"
MAX_RECENT = 10


def default_settings() -> QSettings:
    return QSettings(ORGANIZATION, APPLICATION)


class RecentFiles:
    def __init__(self, settings: QSettings | None = None) -> None:
        self.settings = settings if settings is not None else default_settings()

    def paths(self) -> list[str]:
        value = self.settings.value(KEY, [])
        if isinstance(value, str):  # QSettings returns a bare string for one entry
            value = [value]
        return [str(v) for v in (value or [])]

    def add(self, path: str | Path) -> None:
        path = str(Path(path).resolve())
        paths = [p for p in self.paths() if p != path]
        self.settings.setValue(KEY, [path, *paths][:MAX_RECENT])
        self.settings.sync()

    def clear(self) -> None:
        self.settings.setValue(KEY, [])
        self.settings.sync()

    def start_folder(self) -> str:
        """Where a file dialog opens: the folder last chosen in one, else that of
        the most recent file, else the user's home (never the program's folder)."""
        remembered = self.settings.value(FOLDER_KEY, "")
        candidates = [str(remembered)] if remembered else []
        candidates += [str(Path(p).parent) for p in self.paths()]
        for folder in candidates:
            if folder and Path(folder).is_dir():
                return folder
        return str(Path.home())

    def remember_folder(self, chosen: str | Path) -> None:
        """Remember the folder of a path the user just chose in a dialog."""
        chosen = Path(chosen)
        folder = chosen if chosen.is_dir() else chosen.parent
        self.settings.setValue(FOLDER_KEY, str(folder.resolve()))
        self.settings.sync()
