"""Coverage-guided fuzzing of the header readers with atheris (libFuzzer for Python).

    python -m tests.fuzz.atheris_headers -atheris_runs=100000        # make fuzz
    python -m tests.fuzz.atheris_headers CRASH_FILE                  # replay one input

Each input is one file: its first byte picks the reader (even: NIfTI, odd: DICOM),
the rest is the file. The whole read runs (header, validation gate, geometry, and
the voxels when the header's size fits the bytes), so what the gate lets through is
exercised too. A :class:`viewer.errors.SpleenScopeError` is the expected way to
refuse; any other exception is a finding, and atheris stops with the input saved
as ``crash-<hash>``: copy it to ``tests/regressions/files/`` and add an
``atheris_input("crash-<hash>")`` line to ``tests/regressions/catalogue.py``.

Seeds are tiny valid files (a 4 x 4 x 2 NIfTI-1 and NIfTI-2, a 4 x 4 single-frame
DICOM and a 2-frame enhanced one) written to a seed folder on first use.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import atheris

with atheris.instrument_imports(include=["viewer"]):
    from viewer.errors import SpleenScopeError
    from viewer.io.dicom import load_dicom
    from viewer.io.nifti import load_nifti

from tests.fuzz.seeds import tiny_dicom, tiny_nifti

SCRATCH = Path(
    os.environ.get(
        "FUZZ_SCRATCH", "/dev/shm" if os.path.isdir("/dev/shm") else tempfile.gettempdir()
    )
)
NIFTI_FILE = SCRATCH / f"atheris-{os.getpid()}.nii"
DICOM_FILE = SCRATCH / f"atheris-{os.getpid()}.dcm"


def test_one_input(data: bytes) -> None:
    if not data:
        return
    target, body = data[0], data[1:]
    path = NIFTI_FILE if target % 2 == 0 else DICOM_FILE
    path.write_bytes(body)
    try:
        if path is NIFTI_FILE:
            load_nifti(path)
        else:
            load_dicom(path)
    except SpleenScopeError:
        pass  # the expected, one-line refusal


def write_seeds(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    seeds = {
        "nifti1": b"\x00" + tiny_nifti(1),
        "nifti2": b"\x02" + tiny_nifti(2),
        "dicom": b"\x01" + tiny_dicom(1),
        "dicom_multiframe": b"\x03" + tiny_dicom(2),
    }
    for name, data in seeds.items():
        (folder / name).write_bytes(data)
    return folder


def main() -> None:
    os.environ.setdefault("SPLEENSCOPE_LOG_DIR", tempfile.mkdtemp(prefix="atheris-log-"))
    from viewer.log_file import configure_logging

    configure_logging()
    args = list(sys.argv)
    if not any(not a.startswith("-") for a in args[1:]):  # no corpus or input given
        seeds = write_seeds(Path(tempfile.gettempdir()) / "spleenscope-atheris-seeds")
        args.append(str(seeds))
    if not any(a.startswith("-max_len") for a in args):
        args.append("-max_len=4096")
    atheris.Setup(args, test_one_input)
    try:
        atheris.Fuzz()
    finally:
        NIFTI_FILE.unlink(missing_ok=True)
        DICOM_FILE.unlink(missing_ok=True)


if __name__ == "__main__":
    main()
