"""Where models live: the bundled one in the repository, the user's own, the active one.

The user's folder is ``platformdirs.user_data_dir("spleenscope")`` (``SPLEENSCOPE_HOME``
overrides it, which tests use to stay isolated). The active model is remembered in
``settings.json`` there; when nothing is set, or the file it names has gone, the
bundled model is active.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from viewer.atomic import write_text_atomically
from viewer.errors import ModelFileError

log = logging.getLogger(__name__)

BUNDLED_MODEL_NAME = "spleen_unet2d.pt"
SETTINGS_FILE = "settings.json"


@dataclass(frozen=True)
class ModelEntry:
    path: Path
    name: str
    val_dice: float | None
    created: str
    is_bundled: bool


def repository_models_dir() -> Path:
    return Path(__file__).resolve().parent.parent / "models"


def bundled_model_path() -> Path:
    """The model trained on the sample CT and shipped with SpleenScope."""
    return repository_models_dir() / BUNDLED_MODEL_NAME


def base_dir() -> Path:
    override = os.environ.get("SPLEENSCOPE_HOME")
    if override:
        return Path(override).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir("spleenscope", appauthor=False))


def user_models_dir() -> Path:
    """Models the user trained or imported (created on first use)."""
    path = base_dir() / "models"
    path.mkdir(parents=True, exist_ok=True)
    return path


def user_collection_dir() -> Path:
    """The user's reviewed cases in MSD layout (imagesTr/, labelsTr/), for retraining."""
    path = base_dir() / "collection"
    (path / "imagesTr").mkdir(parents=True, exist_ok=True)
    (path / "labelsTr").mkdir(parents=True, exist_ok=True)
    return path


def _settings_path() -> Path:
    return base_dir() / SETTINGS_FILE


def _read_settings() -> dict:
    path = _settings_path()
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as error:
        log.warning("ignoring unreadable settings file %s: %s", path, error)
        return {}


def active_model_path() -> Path:
    """The model ``segment`` uses when none is given: the user's choice, else the bundled one."""
    chosen = _read_settings().get("active_model")
    if chosen and Path(chosen).is_file():
        return Path(chosen)
    if chosen:
        log.warning("active model %s is missing; using the bundled model", chosen)
    return bundled_model_path()


def set_active_model(path: str | Path | None) -> None:
    """Remember ``path`` as the active model (None returns to the bundled model).

    The file is checked first, so a broken model can never become the default.
    """
    settings = _read_settings()
    if path is None:
        settings.pop("active_model", None)
    else:
        from segmentation.model_file import load_model

        path = Path(path).expanduser().resolve()
        load_model(path)  # raises ModelFileError with a one-line reason
        settings["active_model"] = str(path)
    target = _settings_path()
    target.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomically(target, json.dumps(settings, indent=2))


def _entry(path: Path, is_bundled: bool) -> ModelEntry | None:
    from segmentation.model_file import load_model

    try:
        loaded = load_model(path)
    except ModelFileError as error:
        log.warning("skipping model %s: %s", path.name, error)
        return None
    return ModelEntry(
        path=path,
        name=loaded.name,
        val_dice=loaded.val_dice,
        created=str(loaded.metadata.get("created", "")),
        is_bundled=is_bundled,
    )


def list_models() -> list[ModelEntry]:
    """The bundled model (if present) and every readable ``*.pt`` in the user's folder."""
    entries = []
    bundled = bundled_model_path()
    if bundled.is_file():
        entry = _entry(bundled, True)
        if entry:
            entries.append(entry)
    for path in sorted(user_models_dir().glob("*.pt")):
        entry = _entry(path, False)
        if entry:
            entries.append(entry)
    return entries
