"""Where models live: the bundled ones in the repository, the user's own, the active ones.

One bundled model per modality: ``spleen_unet2d.pt`` for CT and ``spleen_mr_unet2d.pt``
for MR (its own file: its weights carry the CC BY-NC-SA terms of its training data).
Each modality has its own active model, so choosing a new CT model never changes what
an MR study is segmented with.

The user's folder is ``platformdirs.user_data_dir("spleenscope")`` (``SPLEENSCOPE_HOME``
overrides it, which tests use to stay isolated). The active models are remembered in
``settings.json`` there (``active_model`` for CT, ``active_model_mr`` for MR); when
nothing is set, or the file it names has gone, the bundled model is active.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from viewer.atomic import write_text_atomically
from viewer.errors import ModelFileError
from viewer.package_data import bundled_models_dir

log = logging.getLogger(__name__)

BUNDLED_MODEL_NAME = "spleen_unet2d.pt"
BUNDLED_MODEL_NAMES = {"CT": BUNDLED_MODEL_NAME, "MR": "spleen_mr_unet2d.pt"}
SETTINGS_KEYS = {"CT": "active_model", "MR": "active_model_mr"}
SETTINGS_FILE = "settings.json"


@dataclass(frozen=True)
class ModelEntry:
    path: Path
    name: str
    val_dice: float | None
    created: str
    is_bundled: bool
    modality: str = "CT"


def repository_models_dir() -> Path:
    """The bundled models' folder: the ``models`` data package, wherever it is installed."""
    return bundled_models_dir()


def _modality_key(modality: str | None) -> str:
    key = (modality or "CT").upper()
    if key not in BUNDLED_MODEL_NAMES:
        raise ValueError(f"no models for modality {modality!r}; use CT or MR")
    return key


def bundled_model_path(modality: str = "CT") -> Path:
    """The model shipped with SpleenScope for ``modality`` (CT: the sample CT; MR: 12 patients)."""
    return repository_models_dir() / BUNDLED_MODEL_NAMES[_modality_key(modality)]


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


def active_model_path(modality: str = "CT") -> Path:
    """The model used for ``modality`` when none is given: the user's choice, else the bundled one."""
    key = _modality_key(modality)
    chosen = _read_settings().get(SETTINGS_KEYS[key])
    if chosen and Path(chosen).is_file():
        return Path(chosen)
    if chosen:
        log.warning("active %s model %s is missing; using the bundled model", key, chosen)
    return bundled_model_path(key)


def set_active_model(path: str | Path | None, modality: str | None = None) -> None:
    """Remember ``path`` as the active model of its modality (None: back to the bundled one).

    The file is checked first, so a broken model can never become the default; its
    modality comes from the file (``modality`` is only needed with ``path=None``).
    Comparing a new model with the active one first is the caller's part
    (:mod:`segmentation.model_comparison`).
    """
    settings = _read_settings()
    if path is None:
        settings.pop(SETTINGS_KEYS[_modality_key(modality)], None)
    else:
        from segmentation.model_file import load_model

        path = Path(path).expanduser().resolve()
        loaded = load_model(path)  # raises ModelFileError with a one-line reason
        settings[SETTINGS_KEYS[_modality_key(loaded.config.modality)]] = str(path)
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
        modality=loaded.config.modality,
    )


def list_models() -> list[ModelEntry]:
    """The bundled models (those present) and every readable ``*.pt`` in the user's folder."""
    entries = []
    for modality in BUNDLED_MODEL_NAMES:
        bundled = bundled_model_path(modality)
        if bundled.is_file():
            entry = _entry(bundled, True)
            if entry:
                entries.append(entry)
    for path in sorted(user_models_dir().glob("*.pt")):
        entry = _entry(path, False)
        if entry:
            entries.append(entry)
    return entries


def is_bundled(path: str | Path) -> bool:
    """Is ``path`` one of the models shipped with SpleenScope?"""
    resolved = Path(path).expanduser().resolve()
    return any(bundled_model_path(m).resolve() == resolved for m in BUNDLED_MODEL_NAMES)


def make_active(path: str | Path) -> str:
    """Make the model at ``path`` the active one of its modality; returns the modality.

    A bundled model is remembered as "the bundled one" (so an update of SpleenScope
    brings its new bundled model), any other as its file. Comparing with the active
    model first is the caller's part (:mod:`segmentation.model_comparison`).
    """
    from segmentation.model_file import load_model

    modality = load_model(path).config.modality  # ModelFileError for a broken file
    set_active_model(None if is_bundled(path) else path, modality=modality)
    return modality


def find_model(name_or_path: str | Path) -> Path:
    """A listed model by its file name (``mine.pt``, ``mine``) or its name, else a model
    file on disk; a one-line :class:`ModelFileError` when none or several match."""
    text = str(name_or_path)
    entries = list_models()
    by_file = [e.path for e in entries if text in (e.path.name, e.path.stem)]
    matches = by_file or [e.path for e in entries if e.name == text]
    if len(matches) > 1:
        raise ModelFileError(
            f"{text}: several models match ({', '.join(str(p) for p in matches)}); give the path"
        )
    if matches:
        return matches[0]
    path = Path(text).expanduser()
    if path.is_file():
        return path
    names = ", ".join(sorted({entry.path.stem for entry in entries})) or "none"
    raise ModelFileError(
        f"{text}: no such model or file; 'spleenscope models list' shows the models ({names})"
    )


def import_model_file(source: str | Path) -> tuple[Path, bool]:
    """Copy a model file into :func:`user_models_dir`: ``(its path there, copied)``.

    The file is checked first (:func:`segmentation.model_file.load_model`), so a
    damaged or foreign file raises :class:`ModelFileError` and nothing is copied. It
    keeps its file name, with ``_2``, ``_3``... when that name is taken: an existing
    model is never replaced. A file already in the folder, or a byte-identical copy
    of one there, is not copied again (``copied`` is False). Importing does not make
    the model active.
    """
    import filecmp
    import shutil

    from segmentation.model_file import load_model
    from viewer.atomic import OutputPathError, atomic_path
    from viewer.model_card import free_model_path

    source = Path(source).expanduser()
    loaded = load_model(source)  # the one-line reason for a bad file, before any copy
    folder = user_models_dir()
    resolved = source.resolve()
    if resolved.parent == folder.resolve():
        return resolved, False
    size = source.stat().st_size
    for existing in sorted(folder.glob("*.pt")):
        if existing.stat().st_size == size and filecmp.cmp(existing, source, shallow=False):
            log.info("model %s is already there as %s", source.name, existing.name)
            return existing, False
    for _attempt in range(5):
        target = free_model_path(folder, source.stem)
        try:
            with atomic_path(target, suffix=".pt", overwrite=False) as temporary:
                shutil.copyfile(source, temporary)
        except OutputPathError:
            continue  # taken while copying: the next free name
        log.info("imported %s model %s as %s", loaded.config.modality, loaded.name, target.name)
        return target, True
    raise ModelFileError(f"{source.name}: could not find a free name in the models folder")
