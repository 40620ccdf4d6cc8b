"""Every input that ever crashed, hung or fooled the readers stays fixed.

The catalogue (tests/regressions/catalogue.py) builds each damaged input; here each
goes through the library (the exact error type and message) and through the CLI
(``info --json``: exit 2 with exactly one stderr line, or strict JSON on success,
and never the canary patient name anywhere).
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from tests.fuzz.corpus import CANARY
from tests.regressions.catalogue import REGRESSIONS, Regression
from viewer.cli import main
from viewer.errors import SpleenScopeError
from viewer.io import load_volume


@pytest.fixture(autouse=True)
def _log_in_tmp(tmp_path, monkeypatch):
    monkeypatch.setenv("SPLEENSCOPE_LOG_DIR", str(tmp_path / "log"))


def _build(case: Regression, tmp_path, request):
    if case.needs_sample:
        request.getfixturevalue("sample_data")
    return case.build(tmp_path)


@pytest.mark.parametrize("case", REGRESSIONS, ids=[c.name for c in REGRESSIONS])
def test_library_refuses_or_loads_as_catalogued(case, tmp_path, request):
    path = _build(case, tmp_path, request)
    if case.outcome == "refused":
        with pytest.raises(SpleenScopeError) as caught:
            load_volume(path)
        message = str(caught.value)
        assert case.expect in message, message
        assert "\n" not in message
        assert CANARY not in message
        return
    volume = load_volume(path)
    assert np.all(np.isfinite(volume.affine))
    assert abs(np.linalg.det(volume.affine[:3, :3])) > 0
    if case.expect:
        assert any(case.expect in w for w in volume.warnings), volume.warnings


@pytest.mark.parametrize("case", REGRESSIONS, ids=[c.name for c in REGRESSIONS])
def test_cli_prints_one_line_or_strict_json(case, tmp_path, request, capsys):
    path = _build(case, tmp_path, request)
    code = main(["info", str(path), "--json"])
    captured = capsys.readouterr()
    assert CANARY not in captured.out + captured.err
    assert "Traceback" not in captured.err
    if case.outcome == "refused":
        assert code == 2, captured.err
        lines = captured.err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("spleenscope: error: "), captured.err
        return
    assert code == 0, captured.err
    summary = json.loads(captured.out, parse_constant=_no_constants)
    assert all(math.isfinite(v) for row in summary["affine"] for v in row)
    if case.expect:
        assert any(case.expect in w for w in summary["warnings"]), summary["warnings"]


def _no_constants(name):
    raise AssertionError(f"{name} in --json output is not JSON")
