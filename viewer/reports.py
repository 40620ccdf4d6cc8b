"""A segmentation report as JSON and CSV, with no patient-identifying values (Qt-free).

What goes in: the grid (shape, spacing, orientation, modality), the spleen
measurements, the metrics against a reference when there is one, the model and the
device. What never goes in: names, IDs, dates of the study, the series description
or any file path (a folder name is often the patient's name). Both files are
written atomically so an export that fails half-way leaves no half file.
"""

from __future__ import annotations

import csv
import datetime as _dt
import io
import json
import logging
from pathlib import Path

from viewer.atomic import write_text_atomically
from viewer.modality import detect_modality
from viewer.volume import Volume

log = logging.getLogger(__name__)

REPORT_FORMAT = "spleenscope-report"
REPORT_VERSION = 1


def volume_facts(volume: Volume) -> dict:
    """Geometry only: what a reader needs to interpret the numbers."""
    return {
        "modality": detect_modality(volume).modality,
        "shape": [int(v) for v in volume.shape],
        "spacing_mm": [round(float(v), 4) for v in volume.spacing],
        "source_orientation": "".join(volume.source_orientation),
        "voxel_volume_mm3": round(float(volume.voxel_volume_mm3), 6),
    }


def build_report(
    volume: Volume,
    measurements: dict | None,
    evaluation: dict | None = None,
    model: dict | None = None,
    device: str | None = None,
    source: str = "model",
) -> dict:
    """A plain JSON-able report.

    ``measurements`` is ``SpleenMeasurements.as_dict()``, ``evaluation`` is
    ``Evaluation.as_dict()`` (or None without a reference), ``model`` e.g.
    ``{"name": ..., "val_dice": ...}``; ``source`` says where the mask came from
    ("model" or "file").
    """
    return {
        "format": REPORT_FORMAT,
        "format_version": REPORT_VERSION,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "mask_source": source,
        "volume": volume_facts(volume),
        "measurements": dict(measurements or {}),
        "evaluation": dict(evaluation) if evaluation else None,
        "model": dict(model) if model else None,
        "device": device,
    }


def flatten(report: dict, prefix: str = "") -> dict[str, object]:
    """Nested dict to ``section.key`` columns; lists become ``a x b x c`` strings."""
    flat: dict[str, object] = {}
    for key, value in report.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, name + "."))
        elif isinstance(value, (list, tuple)):
            flat[name] = " x ".join(str(v) for v in value)
        else:
            flat[name] = "" if value is None else value
    return flat


def report_csv_text(report: dict) -> str:
    """Two columns, ``field,value``: easy to read and to paste into a spreadsheet."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["field", "value"])
    for key, value in flatten(report).items():
        writer.writerow([key, value])
    return buffer.getvalue()


def write_report(report: dict, path: str | Path) -> Path:
    """Write ``report`` as JSON (``.json``) or CSV (any other suffix, e.g. ``.csv``)."""
    path = Path(path)
    if path.suffix.lower() == ".json":
        text = json.dumps(report, indent=2, allow_nan=False, default=str) + "\n"
    else:
        text = report_csv_text(report)
    write_text_atomically(path, text)
    log.info("wrote report %s", Path(path).name)
    return Path(path)
