"""Absurd sizes and a gzip bomb are refused before memory is spent.

Each input runs through ``main.py info`` in a fresh process (peak RSS from the
kernel): a 32767^3 NIfTI-1, a NIfTI-2 claiming 2^62 voxels per axis, enhanced
multi-frame DICOM claiming 10^7 and 2^31-1 frames are refused (exit 2, one stderr
line) in milliseconds; a 2 MB file whose gzip data inflates to 2 GiB behind a
small valid image loads that image, inflating no more than the header declares.
Peak memory stays under 300 MB in every case.
"""

from __future__ import annotations

from tests.benchmarks.bench_hardening import LIMIT_MB, run


def test_absurd_sizes_and_gzip_bomb_stay_under_the_memory_limit(sample_data):
    figures = run()
    for name, case in figures["cases"].items():
        if name.startswith("gzip_bomb"):  # a valid small image: loads, the rest is ignored
            assert case["rc"] == 0 and case["stderr_lines"] == 0, (name, case)
        else:
            assert case["rc"] == 2 and case["stderr_lines"] == 1, (name, case)
        assert case["peak_rss_mb"] < LIMIT_MB, (name, case)
        assert case["refusal_ms_in_process"] < 500, (name, case)
