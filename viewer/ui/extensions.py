"""Extension point: functions that add docks, menus and tools to the main window.

Other parts of the program (segmentation, review, training) append an installer
``install(window: MainWindow) -> None`` to :data:`INSTALLERS`, or call
:func:`register`. ``MainWindow.__init__`` calls every installer last, so they may
use the whole public API (``add_dock``, ``menu``, ``toolbar``, ``set_overlay``,
``add_close_guard``, the ``volume_changed`` and ``cursor_moved`` signals).

An installer that raises is logged and skipped: one broken tool must not keep the
viewer from opening.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

log = logging.getLogger(__name__)

#: Installers, called in order. Append yours in your own module's import, or list
#: the import path below so it is loaded without anyone importing it first.
INSTALLERS: list[Callable] = []

#: "module:function" installers imported lazily (their modules may import torch).
INSTALLER_PATHS: list[str] = [
    "viewer.ui.segmentation_ui:install",  # segment, results, review, saving
]
INSTALLER_PATHS.append("viewer.ui.training_ui:install")  # Training menu (issue 6)
INSTALLER_PATHS.append("viewer.ui.edit_tools:install")  # Edit menu: paint/erase brush, undo


def register(installer: Callable) -> Callable:
    """Decorator/function form of ``INSTALLERS.append``."""
    if installer not in INSTALLERS:
        INSTALLERS.append(installer)
    return installer


def _resolve(path: str) -> Callable | None:
    import importlib

    module_name, _, function_name = path.partition(":")
    try:
        return getattr(importlib.import_module(module_name), function_name)
    except Exception:
        log.exception("could not import window extension %s", path)
        return None


def install_all(window) -> list[str]:
    """Run every installer on ``window``; returns the names of those that failed."""
    failed: list[str] = []
    installers = list(INSTALLERS)
    for path in INSTALLER_PATHS:
        installer = _resolve(path)
        if installer is None:
            failed.append(path)
        elif installer not in installers:
            installers.append(installer)
    for installer in installers:
        name = getattr(installer, "__qualname__", repr(installer))
        try:
            installer(window)
        except Exception:
            log.exception("window extension %s failed; continuing without it", name)
            failed.append(name)
    return failed
