"""Window checks on a real X screen: a private Xvfb of a chosen size, and the
probe (``tests/screen_probe.py``) run on it in its own process.

Offscreen grabs render the widgets afresh, so they never show what a real screen
keeps from earlier frames (stale crosshair lines) nor what a small screen cuts
off. These checks start an Xvfb (``xvfb`` package, via pyvirtualdisplay), run the
window there with ``QT_QPA_PLATFORM=xcb`` and read pixels back from the X server.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

PROBE = Path(__file__).with_name("screen_probe.py")


def run_probe(
    check: str,
    *args: str,
    size: tuple[int, int] = (1600, 1000),
    timeout_s: float = 120.0,
    env: dict | None = None,
) -> dict:
    """Run ``screen_probe.py CHECK ARGS`` on a fresh ``size`` X screen; its JSON."""
    if shutil.which("Xvfb") is None:
        pytest.skip("Xvfb not installed (apt-get install xvfb; `make install` does it as root)")
    from pyvirtualdisplay import Display

    with Display(backend="xvfb", size=size, color_depth=24, manage_global_env=False) as screen:
        child_env = {
            **os.environ,
            **(env or {}),
            "DISPLAY": screen.new_display_var,
            "QT_QPA_PLATFORM": "xcb",
            "PYTHONPATH": str(REPO_ROOT),
        }
        child_env.pop("XAUTHORITY", None)
        done = subprocess.run(
            [sys.executable, str(PROBE), check, *args],
            env=child_env,
            capture_output=True,
            text=True,
            timeout=timeout_s,
            cwd=REPO_ROOT,
        )
    if done.returncode != 0:
        raise AssertionError(
            f"screen probe {check} failed ({done.returncode}):\n"
            f"{done.stdout[-2000:]}\n{done.stderr[-4000:]}"
        )
    return json.loads(done.stdout.strip().splitlines()[-1])


def _xdotool(display: str, *args: str, timeout_s: float = 30.0) -> str:
    done = subprocess.run(
        ["xdotool", *args],
        env={**os.environ, "DISPLAY": display},
        capture_output=True,
        text=True,
        timeout=timeout_s,
    )
    if done.returncode != 0:
        raise AssertionError(f"xdotool {' '.join(args)} failed: {done.stderr}")
    return done.stdout


def open_view_and_close(
    config_home: Path, size: tuple[int, int], resize_to: tuple[int, int] | None = None
) -> dict:
    """Start ``spleenscope view --phantom`` on a fresh ``size`` X screen the way a
    user does (settings under ``config_home``), read the window's geometry from the
    X server, optionally resize it, quit with Ctrl+Q; the geometry it opened at."""
    if shutil.which("Xvfb") is None or shutil.which("xdotool") is None:
        pytest.skip("Xvfb / xdotool not installed (`make install` installs them as root)")
    from pyvirtualdisplay import Display

    with Display(backend="xvfb", size=size, color_depth=24, manage_global_env=False) as screen:
        display = screen.new_display_var
        env = {
            **os.environ,
            "DISPLAY": display,
            "QT_QPA_PLATFORM": "xcb",
            "XDG_CONFIG_HOME": str(config_home),
            "PYTHONPATH": str(REPO_ROOT),
            "SPLEENSCOPE_HOME": str(config_home / "home"),
        }
        env.pop("XAUTHORITY", None)
        app = subprocess.Popen(
            [sys.executable, str(REPO_ROOT / "main.py"), "view", "--phantom"],
            env=env,
            cwd=REPO_ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            window = _xdotool(
                display, "search", "--sync", "--onlyvisible", "--name", "^SpleenScope", timeout_s=90
            ).split()[0]
            import time

            time.sleep(1.5)  # the volume and the docks settle
            shape = dict(
                line.split("=", 1)
                for line in _xdotool(display, "getwindowgeometry", "--shell", window).split()
            )
            if resize_to is not None:
                _xdotool(display, "windowsize", window, *map(str, resize_to))
                time.sleep(1.0)
            _xdotool(display, "windowfocus", "--sync", window)
            _xdotool(display, "key", "--window", window, "ctrl+q")
            app.wait(timeout=30)
        finally:
            if app.poll() is None:
                app.kill()
                app.wait()
    return {
        "x": int(shape["X"]),
        "y": int(shape["Y"]),
        "width": int(shape["WIDTH"]),
        "height": int(shape["HEIGHT"]),
        "exit_code": app.returncode,
    }
