"""The CT model on the sample patient resampled to another scanner's grid, from the CLI.

``python -m segmentation.ct_geometries --geometry PIXEL,SLICE,FOV`` scores a grid of the
user's choice; it must not overwrite the figures the model card quotes.
"""

from __future__ import annotations

import json

import pytest

from segmentation import ct_geometries
from segmentation.registry import bundled_model_path
from tests.seg_support import require_sample


def test_a_coarse_grid_is_scored_without_touching_the_training_record(capsys):
    require_sample("ct_spleen_dicom")
    model = bundled_model_path("CT")
    record = model.with_name(model.stem + ".training.json")
    before = record.read_bytes()
    assert ct_geometries.main(["--geometry", "5,5,500", "--threads", "1"]) == 0
    (row,) = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    # 5 mm voxels over a 500 mm field of view: 100 x 100 pixels; the series' 40 mm: 8 slices
    assert row["shape"] == [100, 100, 8]
    assert row["dice"] > 0.9 and row["verdict"] == "ok"
    assert abs(row["volume_ml"] - row["reference_ml"]) < 0.15 * row["reference_ml"]
    assert record.read_bytes() == before


@pytest.mark.parametrize("bad", ["3,3", "3,x,500", "0,3,500"])
def test_a_malformed_geometry_is_refused_before_any_work(bad, capsys):
    with pytest.raises(SystemExit) as stop:
        ct_geometries.main(["--geometry", bad])
    assert stop.value.code == 2
    assert "PIXEL,SLICE,FOV" in capsys.readouterr().err
