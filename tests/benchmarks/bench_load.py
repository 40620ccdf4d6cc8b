"""Load time of SpleenScope's readers next to SimpleITK's, measured in the same run.

Cases: the sample DICOM CT (20 JPEG 2000 slices, 512 x 512), a large .nii.gz
(512 x 512 x 300 int16, built by repeating that CT along z) and the same large
volume as an uncompressed DICOM series (300 files), all written to a temp folder.
Prints one JSON line with the median (and p95) wall seconds and the median CPU
seconds of each reader, and the ratios ours / SimpleITK's. Target: ratio <= 1.5.

Run: ``.venv/bin/python tests/benchmarks/bench_load.py [--repeats N]``
(SimpleITK comes with the ``bench`` extra: ``pip install -e '.[bench]'``).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT))

from tests.conftest import sample_data_dir  # noqa: E402
from viewer.io import load_volume  # noqa: E402


def _stats(times: list[float], cpu_times: list[float]) -> dict:
    times = sorted(times)
    return {
        "median_s": round(statistics.median(times), 4),
        "p95_s": round(times[min(len(times) - 1, int(round(0.95 * (len(times) - 1))))], 4),
        "median_cpu_s": round(statistics.median(cpu_times), 4),
    }


def compare(ours, theirs, repeats: int) -> dict:
    """Alternate the two readers so a burst of load on a shared machine hits both.

    Wall time is what a user waits; CPU time (all threads of this process) is the
    steadier figure when other jobs share the cores.
    """
    ours(), theirs()  # warm the file cache and imports
    wall: dict[str, list[float]] = {"spleenscope": [], "simpleitk": []}
    cpu: dict[str, list[float]] = {"spleenscope": [], "simpleitk": []}
    for _ in range(repeats):
        for name, function in (("spleenscope", ours), ("simpleitk", theirs)):
            start, start_cpu = time.perf_counter(), time.process_time()
            function()
            wall[name].append(time.perf_counter() - start)
            cpu[name].append(time.process_time() - start_cpu)
    result = {name: _stats(wall[name], cpu[name]) for name in wall}
    ours_s, theirs_s = result["spleenscope"], result["simpleitk"]
    result["ratio"] = round(ours_s["median_s"] / theirs_s["median_s"], 3)
    result["cpu_ratio"] = round(ours_s["median_cpu_s"] / theirs_s["median_cpu_s"], 3)
    return result


def build_large_nifti(ct_folder: Path, folder: Path, slices: int = 300) -> Path:
    ct = load_volume(ct_folder)
    repeats = -(-slices // ct.shape[2])
    data = np.tile(ct.array, (1, 1, repeats))[:, :, :slices]
    path = folder / "large_512x512x300.nii.gz"
    nib.save(nib.Nifti1Image(np.asfortranarray(data), ct.affine), path)
    return path


def build_large_dicom(ct_folder: Path, folder: Path, slices: int = 300) -> Path:
    """Uncompressed copies of the CT slices, stepping on along z: 300 files."""
    out = folder / "large_dicom"
    out.mkdir()
    sources = [pydicom.dcmread(p) for p in sorted(ct_folder.iterdir())]
    for ds in sources:
        ds.decompress()
    top = float(sources[0].ImagePositionPatient[2])
    for index in range(slices):
        ds = sources[index % len(sources)]
        ds.ImagePositionPatient = [
            ds.ImagePositionPatient[0],
            ds.ImagePositionPatient[1],
            top - 2.0 * index,
        ]
        ds.InstanceNumber = index + 1
        ds.SOPInstanceUID = pydicom.uid.generate_uid()
        ds.save_as(out / f"slice{index:04d}")
    return out


def sitk_dicom(folder: Path):
    import SimpleITK as sitk

    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(folder)))
    return sitk.GetArrayViewFromImage(reader.Execute())


def sitk_file(path: Path):
    import SimpleITK as sitk

    return sitk.GetArrayViewFromImage(sitk.ReadImage(str(path)))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    try:
        import SimpleITK  # noqa: F401
    except ImportError:
        print(json.dumps({"error": "SimpleITK missing: pip install -e '.[bench]'"}))
        return 1
    ct_folder = sample_data_dir() / "ct_spleen_dicom"
    if not ct_folder.is_dir():
        print(json.dumps({"error": f"sample data not found at {ct_folder}"}))
        return 1
    results: dict = {"repeats": args.repeats}
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        cases = {
            "dicom_ct_20_j2k": ct_folder,
            "nifti_gz_512x512x300": build_large_nifti(ct_folder, scratch),
            "dicom_raw_512x512x300": build_large_dicom(ct_folder, scratch),
        }
        for name, path in cases.items():
            reference = sitk_dicom if path.is_dir() else sitk_file
            results[name] = compare(
                lambda p=path: load_volume(p), lambda p=path, r=reference: r(p), args.repeats
            )
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
