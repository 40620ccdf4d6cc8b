"""The CT model on the sample patient as other scanners would see it: ``python -m segmentation.ct_geometries``.

Only one CT patient is shared, so what can be measured is how the model holds up when
the same anatomy arrives on other grids: thicker slices (3 and 5 mm, the geometry of
the unseen CT that lost the spleen's tip), coarser and finer pixels, a tighter field
of view. Each geometry is made by :func:`segmentation.train_bundled.other_geometry`
(image resampled linearly, label as an interpolated fraction > 0.5), segmented with
the whole study pipeline (:func:`segmentation.study.segment_study`), and scored: Dice,
volume error, the verdict and the volume range. The figures go into the model's
training record (``simulated_geometries``) and its card.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import numpy as np

from segmentation.registry import bundled_model_path
from segmentation.train_bundled import other_geometry, sample_data_dir

log = logging.getLogger(__name__)

# (pixel mm, slice mm, field of view mm): the sample itself is 0.977 / 2.0 / 500.
GEOMETRIES = (
    (0.74, 3.0, 360.0),
    (0.977, 3.0, 500.0),
    (0.977, 5.0, 500.0),
    (1.5, 3.0, 500.0),
    (1.5, 5.0, 500.0),
)


def score_geometries(model_path: Path, geometries=GEOMETRIES) -> list[dict]:
    from segmentation.metrics import evaluate_masks
    from segmentation.study import segment_study
    from viewer.io import load_volume

    data = sample_data_dir()
    volume = load_volume(data / "ct_spleen_dicom")
    reference = (np.asarray(load_volume(data / "ct_spleen_dicom_label.nii.gz").array) > 0).astype(
        np.uint8
    )
    rows = []
    for pixel, thickness, fov in geometries:
        moved, moved_reference = other_geometry(volume, reference, pixel, thickness, fov)
        study = segment_study(moved, model=model_path, device="cpu")
        metrics = evaluate_masks(study.mask, moved_reference, moved.affine).as_dict()
        rows.append(
            {
                "pixel_mm": pixel,
                "slice_mm": thickness,
                "field_of_view_mm": fov,
                "shape": list(moved.shape),
                "dice": round(float(metrics["dice"]), 4),
                "hd95_mm": metrics.get("hd95_mm"),
                "volume_ml": round(float(study.measurements.volume_ml), 1),
                "reference_ml": round(
                    float(moved_reference.sum()) * abs(np.linalg.det(moved.affine[:3, :3])) / 1000,
                    1,
                ),
                "volume_ml_range": list(study.uncertainty.volume_range_ml),
                "verdict": study.quality.verdict,
                "reasons": study.quality.reasons,
            }
        )
        log.info("%s", json.dumps(rows[-1]))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=bundled_model_path("CT"))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--no-record", action="store_true", help="print only")
    parser.add_argument(
        "--geometry",
        action="append",
        metavar="PIXEL,SLICE,FOV",
        help="score this grid (mm) instead of the recorded set; repeatable; implies --no-record",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    import torch

    torch.set_num_threads(args.threads)
    geometries = GEOMETRIES
    if args.geometry:
        try:
            geometries = tuple(tuple(float(v) for v in g.split(",")) for g in args.geometry)
        except ValueError:
            parser.error("--geometry takes three numbers in mm: PIXEL,SLICE,FOV")
        if any(len(g) != 3 or min(g) <= 0 for g in geometries):
            parser.error("--geometry takes three positive numbers in mm: PIXEL,SLICE,FOV")
    rows = score_geometries(args.model, geometries)
    print(json.dumps(rows))
    record = args.model.with_name(args.model.stem + ".training.json")
    if not args.no_record and not args.geometry and record.is_file():
        report = json.loads(record.read_text(encoding="utf-8"))
        report["simulated_geometries"] = rows
        record.write_text(json.dumps(report, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
