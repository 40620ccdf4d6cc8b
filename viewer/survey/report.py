"""Survey output: a self-contained HTML report, a CSV table, and JSON.

The HTML has no external references: its plots (matplotlib, Agg backend) are PNG
images embedded as ``data:`` URIs and its style is inline, so it opens anywhere,
offline, and can be attached to an e-mail. Cells are HTML-escaped. What is written
is exactly the row columns (:data:`viewer.survey.rows.COLUMNS`) and the summary
counts: no patient names, IDs or dates.
"""

from __future__ import annotations

import base64
import csv
import html
import io
import json
from pathlib import Path

from viewer.atomic import atomic_path, write_text_atomically
from viewer.survey.rows import COLUMNS, Survey

STYLE = """
body{font-family:sans-serif;margin:1.5em;color:#222}
table{border-collapse:collapse;font-size:12px}
th,td{border:1px solid #ccc;padding:3px 6px;text-align:left;vertical-align:top}
th{background:#eee}
tr.flagged td{background:#fff1e0}
.plots img{max-width:48%;margin:0.5%;border:1px solid #ddd}
.counts td:first-child{font-weight:bold}
"""


def _figure_png(figure) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def plots(survey: Survey) -> dict[str, str]:
    """Titles to base64 PNGs: spacing, shape and intensity histograms, orientation counts."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    rows = survey.rows
    images: dict[str, str] = {}

    def histogram(title: str, series: dict[str, list[float]], xlabel: str) -> None:
        figure = Figure(figsize=(5.5, 3.2))
        axes = figure.subplots()
        drawn = False
        for label, values in series.items():
            if values:
                axes.hist(values, bins=min(30, max(5, len(values))), alpha=0.7, label=label)
                drawn = True
        if not drawn:
            axes.text(0.5, 0.5, "no values", ha="center", va="center", transform=axes.transAxes)
        axes.set_title(title)
        axes.set_xlabel(xlabel)
        axes.set_ylabel("series / volumes")
        if drawn and len(series) > 1:
            axes.legend(fontsize=8)
        images[title] = _figure_png(figure)

    histogram(
        "Voxel spacing",
        {
            "in-plane": [r.spacing_mm[0] for r in rows if r.spacing_mm],
            "slice step": [r.slice_step_mm for r in rows if r.slice_step_mm],
        },
        "mm",
    )
    histogram(
        "Shape",
        {
            "in-plane (columns)": [float(r.shape[0]) for r in rows if r.shape],
            "slices": [float(r.shape[2]) for r in rows if len(r.shape) > 2],
        },
        "voxels",
    )
    if survey.intensities_sampled:
        histogram(
            "Intensity (sampled slices)",
            {
                "1st percentile": [r.intensity_p1 for r in rows if r.intensity_p1 is not None],
                "median": [r.intensity_p50 for r in rows if r.intensity_p50 is not None],
                "99th percentile": [r.intensity_p99 for r in rows if r.intensity_p99 is not None],
            },
            "value (HU for CT)",
        )
    counts = survey.summary()["by_orientation"]
    figure = Figure(figsize=(5.5, 3.2))
    axes = figure.subplots()
    axes.bar(list(counts), list(counts.values()), color="#1f77b4")
    axes.set_title("Orientation of the stored voxel axes")
    axes.set_ylabel("series / volumes")
    images["Orientation"] = _figure_png(figure)
    return images


def _table(survey: Survey) -> str:
    head = "".join(f"<th>{html.escape(c.replace('_', ' '))}</th>" for c in COLUMNS)
    body = []
    for row in survey.rows:
        css = ' class="flagged"' if row.flags else ""
        cells = "".join(f"<td>{html.escape(row.cell(c))}</td>" for c in COLUMNS)
        body.append(f"<tr{css}>{cells}</tr>")
    return f"<table id='rows'><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def to_html(survey: Survey, title: str = "SpleenScope survey") -> str:
    summary = survey.summary()
    counts = [
        ("Files seen", summary["files_seen"]),
        ("Series and volumes", summary["series_and_volumes"]),
        ("DICOM studies (by Study Instance UID)", summary["dicom_studies"]),
        ("DICOM patients (distinct, counted only)", summary["dicom_patients"]),
        ("DICOM series without a Study Instance UID", summary["dicom_series_without_study_uid"]),
        ("Flagged", summary["flagged"]),
        ("Modalities", ", ".join(f"{k} {v}" for k, v in summary["by_modality"].items())),
        ("Formats", ", ".join(f"{k} {v}" for k, v in summary["by_format"].items())),
        ("Skipped (not images)", summary["skipped_not_image"]),
        ("Skipped (DICOM without pixels: SEG, SR, ...)", summary["skipped_non_image_dicom"]),
        ("Unreadable", len(summary["unreadable"])),
    ]
    if not survey.intensities_sampled:
        counts.append(("Intensities", "not sampled (run with --intensities)"))
    count_rows = "".join(
        f"<tr><td>{html.escape(k)}</td><td>{html.escape(str(v))}</td></tr>" for k, v in counts
    )
    flagged = "".join(
        f"<li><b>{html.escape(r.path)}</b>: {html.escape('; '.join(r.flags))}</li>"
        for r in survey.rows
        if r.flags
    )
    unreadable = "".join(f"<li>{html.escape(u)}</li>" for u in summary["unreadable"])
    figures = "".join(
        f'<img alt="{html.escape(name)}" src="data:image/png;base64,{data}">'
        for name, data in plots(survey).items()
    )
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head><body>"
        f"<h1>{html.escape(title)}</h1>"
        f"<table class='counts'>{count_rows}</table>"
        f"<h2>Plots</h2><div class='plots'>{figures}</div>"
        f"<h2>Cases that stand out ({summary['flagged']})</h2>"
        f"<ul>{flagged or '<li>none</li>'}</ul>"
        + (f"<h2>Unreadable files</h2><ul>{unreadable}</ul>" if unreadable else "")
        + f"<h2>All series and volumes</h2>{_table(survey)}</body></html>"
    )


def to_json(survey: Survey) -> str:
    document = {"summary": survey.summary(), "rows": [r.to_dict() for r in survey.rows]}
    return json.dumps(document, allow_nan=False)


def write_html(survey: Survey, path: Path) -> Path:
    return write_text_atomically(path, to_html(survey))


def write_csv(survey: Survey, path: Path) -> Path:
    with atomic_path(path, suffix=".csv") as temporary:
        with open(temporary, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(COLUMNS)
            for row in survey.rows:
                writer.writerow([row.cell(c) for c in COLUMNS])
    return path
