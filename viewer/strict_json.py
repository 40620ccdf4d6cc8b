"""Strict JSON: every document the program prints or writes is valid JSON.

Python's ``json`` writes ``NaN`` and ``Infinity`` by default, which no other JSON
reader accepts, and a NaN in a report looks like a number. Here a non-finite float
(Python or numpy) becomes ``null``, and the document says so: when the top level
is a dict with a ``warnings`` list, a line naming each affected field is appended
to it (and logged). numpy scalars and arrays become plain numbers and lists.

    from viewer.strict_json import dumps
    print(dumps(summary))
"""

from __future__ import annotations

import json
import logging
import math
from typing import Any

log = logging.getLogger(__name__)


def dumps(document: Any, **options) -> str:
    """``json.dumps`` with ``allow_nan=False``; non-finite values become null with a warning."""
    replaced: list[str] = []
    clean = sanitize(document, "", replaced)
    if replaced:
        note = f"not finite, written as null: {', '.join(replaced[:10])}"
        if len(replaced) > 10:
            note += f" (and {len(replaced) - 10} more)"
        log.warning("%s", note)
        if isinstance(clean, dict) and isinstance(clean.get("warnings"), list):
            clean["warnings"] = [*clean["warnings"], note]
    options.setdefault("default", str)
    return json.dumps(clean, allow_nan=False, **options)


def sanitize(value: Any, where: str = "", replaced: list[str] | None = None) -> Any:
    """A copy of ``value`` with plain Python types and None for non-finite floats.

    ``replaced`` collects the dotted path of every value turned into None.
    """
    if replaced is None:
        replaced = []
    if isinstance(value, dict):
        return {
            key: sanitize(item, f"{where}.{key}" if where else str(key), replaced)
            for key, item in value.items()
        }
    if isinstance(value, (list, tuple)):
        return [sanitize(item, f"{where}[{i}]", replaced) for i, item in enumerate(value)]
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        replaced.append(where or "value")
        return None
    kind = type(value).__module__.split(".")[0]
    if kind == "numpy":
        if hasattr(value, "tolist"):
            return sanitize(value.tolist(), where, replaced)
    return value
