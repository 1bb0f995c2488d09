"""The GUI started from a terminal quits cleanly on Ctrl+C (SIGINT) or SIGTERM, as its close button does."""

import os
import signal
import subprocess
import sys
import time

import pytest

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("number", [signal.SIGINT, signal.SIGTERM])
@pytest.mark.slow
def test_the_window_closes_on_a_terminal_signal(tmp_path, number):
    env = {
        **os.environ,
        "QT_QPA_PLATFORM": "offscreen",
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "FASHION_DESKTOP_RUNS": str(tmp_path / "runs.sqlite3"),
    }
    code = "from fashion_desktop.gui.app import run_app; print('started', flush=True); raise SystemExit(run_app([]))"
    process = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=os.getcwd()
    )
    try:
        assert process.stdout is not None and process.stdout.readline().strip() == b"started"
        time.sleep(3)  # the window is up and its event loop running
        process.send_signal(number)
        _, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, err.decode(errors="replace")[-2000:]
    assert b"Traceback" not in err and b"KeyboardInterrupt" not in err
