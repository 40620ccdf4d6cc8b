"""``spleenscope info PATH [--series N] [--json]``: what a file or folder holds.

Prints the geometry (shape, spacing, orientation, affine), modality, value range,
slice count and warnings of the volume, and for a DICOM folder the list of series.
Nothing patient-identifying is printed: only the fields of ``Volume.summary`` and
``SeriesInfo.to_dict``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from viewer import strict_json


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "info",
        help="show the geometry and series of a volume (NIfTI file, DICOM file or folder)",
        description="Show shape, spacing, orientation, affine, modality and series of a volume.",
    )
    p.add_argument("path", type=Path, help="NIfTI file, DICOM file, or folder of DICOM files")
    p.add_argument("--series", type=int, default=None, metavar="N", help="series index (0-based)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(run=run)


def _series_of(path: Path) -> list:
    """Series found when the input is DICOM; empty for NIfTI and the other volume formats."""
    from viewer.io.format_detect import DICOM, detect_reader

    if detect_reader(path) != DICOM:
        return []
    from viewer.io.dicom import list_series

    return list_series(path)


def run(args: argparse.Namespace) -> int:
    from viewer.errors import SeriesSelectionError, UnreadableFileError
    from viewer.io.load import load_volume

    if not args.path.exists():
        raise UnreadableFileError(f"{args.path}: no such file or folder; check the path")
    series = _series_of(args.path)
    if len(series) > 1 and args.series is None:
        return _print_series_only(series, args.json)
    if args.series is not None and series and not 0 <= args.series < len(series):
        raise SeriesSelectionError(
            f"{args.path.name} holds {len(series)} series (0 to {len(series) - 1}); "
            f"series {args.series} does not exist"
        )
    volume = load_volume(args.path, series=args.series)
    summary = volume.summary()
    summary["slices"] = volume.source_shape[2]
    summary["series"] = [s.to_dict() for s in series]
    summary["selected_series"] = (args.series or 0) if series else None
    if args.json:
        print(strict_json.dumps(summary))
        return 0
    print(_format(summary))
    return 0


def _print_series_only(series: list, as_json: bool) -> int:
    if as_json:
        print(
            strict_json.dumps(
                {
                    "shape": None,
                    "spacing": None,
                    "orientation": None,
                    "affine": None,
                    "modality": None,
                    "series": [s.to_dict() for s in series],
                    "warnings": [
                        f"{len(series)} series found; choose one with --series N",
                        *getattr(series, "notes", ()),
                    ],
                }
            )
        )
        return 0
    print(f"{len(series)} series found; choose one with --series N:")
    for s in series:
        print(f"  {s.label()}")
    for note in getattr(series, "notes", ()):
        print(f"warning: {note}")
    return 0


def _format(summary: dict) -> str:
    affine_rows = "\n".join(
        "    [" + "  ".join(f"{v:10.4f}" for v in row) + "]" for row in summary["affine"]
    )
    spacing = " x ".join(f"{s:.4g}" for s in summary["spacing"])
    low, high = summary["value_range"]
    lines = [
        f"description:        {summary['description'] or '-'}",
        f"modality:           {summary['modality'] or '-'}",
        f"shape (canonical):  {' x '.join(str(s) for s in summary['shape'])}",
        f"spacing (mm):       {spacing}",
        f"orientation:        {summary['orientation']} (source {summary['source_orientation']}, "
        f"source shape {' x '.join(str(s) for s in summary['source_shape'])})",
        f"slices:             {summary['slices']}",
        f"data type:          {summary['dtype']}",
        f"value range:        {low:g} .. {high:g}",
        f"window:             {summary['window'] or '-'}",
        "affine (canonical voxel -> RAS mm):",
        affine_rows,
    ]
    if summary["series"]:
        lines.append(f"series ({len(summary['series'])}):")
        for s in summary["series"]:
            mark = "*" if s["index"] == summary["selected_series"] else " "
            lines.append(
                f"  {mark}[{s['index']}] {s['modality']} '{s['description']}' {s['slices']} slices "
                f"{s['rows']} x {s['columns']} {s['orientation']}"
            )
    for warning in summary["warnings"]:
        lines.append(f"warning: {warning}")
    return "\n".join(lines)
