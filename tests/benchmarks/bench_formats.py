"""Load time of the MetaImage, NRRD, Analyze, MGZ and MINC readers next to their libraries'.

Each file holds the same 512 x 512 x 200 int16 CT (the sample CT repeated along z),
written by the format's own library into a temp folder: ``.mha`` and ``.nrrd``
gzip-compressed (as 3D Slicer writes them), ``.mhd`` + ``.raw`` and ``.nhdr`` + ``.raw``
uncompressed, Analyze ``.hdr`` + ``.img``, and ``.mgz``. MINC cannot be written by
nibabel, so the MINC 2 case is nibabel's own small test file.

Baselines, in the same run and alternated with ours: SimpleITK ``ReadImage`` then
``GetArrayFromImage`` (the usual way to get a numpy array), and nibabel ``load``
then ``np.asanyarray(image.dataobj)`` (``mmap=False``, so the voxels are really read). SpleenScope's reader does that plus the checks
and the reorientation to the canonical grid. Prints one JSON line with median (p95)
seconds, median CPU seconds and the ratios ours / library's. Target: ratio <= 1.5.

Run: ``.venv/bin/python tests/benchmarks/bench_formats.py [--repeats N] [--slices N]``
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


def compare(ours, theirs, repeats: int, library: str) -> dict:
    """Alternate the two readers so a burst of load on a shared machine hits both."""
    ours(), theirs()  # warm the file cache and imports
    wall: dict[str, list[float]] = {"spleenscope": [], library: []}
    cpu: dict[str, list[float]] = {"spleenscope": [], library: []}
    for _ in range(repeats):
        for name, function in (("spleenscope", ours), (library, theirs)):
            start, start_cpu = time.perf_counter(), time.process_time()
            function()
            wall[name].append(time.perf_counter() - start)
            cpu[name].append(time.process_time() - start_cpu)
    result = {name: _stats(wall[name], cpu[name]) for name in wall}
    result["ratio"] = round(result["spleenscope"]["median_s"] / result[library]["median_s"], 3)
    result["cpu_ratio"] = round(
        result["spleenscope"]["median_cpu_s"] / result[library]["median_cpu_s"], 3
    )
    return result


def sitk_array(path: Path) -> np.ndarray:
    import SimpleITK as sitk

    return sitk.GetArrayFromImage(sitk.ReadImage(str(path)))


def nibabel_array(path: Path) -> np.ndarray:
    # mmap=False: read the voxels into memory, as SpleenScope does (a memory map would
    # defer the reading past the timer).
    image = nib.load(path) if path.suffix == ".mnc" else nib.load(path, mmap=False)
    return np.asanyarray(image.dataobj)


def build_cases(folder: Path, slices: int) -> dict[str, tuple[Path, str]]:
    import SimpleITK as sitk

    sitk.ProcessObject.SetGlobalWarningDisplay(False)  # NIfTI metadata MetaImage cannot hold
    ct = load_volume(sample_data_dir() / "ct_spleen_dicom")
    repeats = -(-slices // ct.shape[2])
    data = np.asfortranarray(np.tile(ct.array, (1, 1, repeats))[:, :, :slices])
    reference = folder / "reference.nii"
    nib.save(nib.Nifti1Image(data, ct.affine), reference)
    image = sitk.ReadImage(str(reference))
    cases: dict[str, tuple[Path, str]] = {}
    for name, compress in (("mha", True), ("nrrd", True), ("mhd", False), ("nhdr", False)):
        path = folder / f"ct.{name}"
        sitk.WriteImage(image, str(path), compress)
        cases[f"{name}{'_gz' if compress else '_raw'}"] = (path, "simpleitk")
    las = nib.orientations.axcodes2ornt(("L", "A", "S"))
    transform = nib.orientations.ornt_transform(nib.io_orientation(ct.affine), las)
    las_data = nib.orientations.apply_orientation(data, transform)
    las_affine = ct.affine @ nib.orientations.inv_ornt_aff(transform, data.shape)
    nib.save(nib.Spm2AnalyzeImage(las_data, las_affine), folder / "ct.hdr")
    cases["analyze"] = (folder / "ct.hdr", "nibabel")
    nib.save(nib.MGHImage(data, ct.affine), folder / "ct.mgz")
    cases["mgz"] = (folder / "ct.mgz", "nibabel")
    minc = Path(nib.__file__).parent / "tests" / "data" / "small.mnc"
    if minc.is_file():
        cases["minc2_small_18x28x29"] = (minc, "nibabel")
    return cases


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--slices", type=int, default=200)
    args = parser.parse_args()
    if not (sample_data_dir() / "ct_spleen_dicom").is_dir():
        print(json.dumps({"error": f"sample data not found at {sample_data_dir()}"}))
        return 1
    results: dict = {"repeats": args.repeats, "shape": [512, 512, args.slices], "dtype": "int16"}
    with tempfile.TemporaryDirectory() as scratch:
        for name, (path, library) in build_cases(Path(scratch), args.slices).items():
            theirs = sitk_array if library == "simpleitk" else nibabel_array
            results[name] = compare(
                lambda p=path: load_volume(p), lambda p=path, f=theirs: f(p), args.repeats, library
            )
    results["worst_ratio"] = max(v["ratio"] for v in results.values() if isinstance(v, dict))
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
