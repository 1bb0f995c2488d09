"""The installed app's --self-test, from source and (in CI) from the PyInstaller bundle, offscreen and under Xvfb.

CI builds the bundle and sets FASHION_DESKTOP_BUNDLE to its executable; elsewhere the bundle tests skip.
"""

import configparser
import importlib.metadata
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

BUNDLE = os.environ.get("FASHION_DESKTOP_BUNDLE")
RESOURCES = Path(__file__).resolve().parents[1] / "resources"
needs_bundle = pytest.mark.skipif(not BUNDLE, reason="set FASHION_DESKTOP_BUNDLE to a built bundle's executable")


def self_test(command: list[str], **env: str) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "QT_QPA_PLATFORM")} | env
    result = subprocess.run(command + ["--self-test"], capture_output=True, text=True, env=environment, timeout=600)
    print(result.stdout, result.stderr)
    return result


def assert_all_checks_passed(result: subprocess.CompletedProcess, platform: str) -> None:
    assert result.returncode == 0, result.stdout + result.stderr
    assert "all checks passed" in result.stdout
    assert result.stdout.count("  ok  ") == 8
    assert f"platform {platform}" in result.stdout and "plot exported as PNG" in result.stdout


@pytest.mark.slow
def test_self_test_from_source():
    assert_all_checks_passed(
        self_test([sys.executable, "-m", "fashion_desktop"], QT_QPA_PLATFORM="offscreen"), "offscreen"
    )


@needs_bundle
def test_bundle_self_test_offscreen():
    result = self_test([BUNDLE], QT_QPA_PLATFORM="offscreen")
    assert_all_checks_passed(result, "offscreen")
    assert "(bundle," in result.stdout


@needs_bundle
def test_bundle_self_test_on_a_real_x_server():
    """xcb needs system libraries (libxcb-cursor0, ...) that a bundle may miss: a real X server finds out."""
    assert shutil.which("xvfb-run"), "a bundle is tested under Xvfb too: install xvfb and xauth (see .ci/run)"
    result = self_test(["xvfb-run", "-a", "-s", "-screen 0 1280x800x24", BUNDLE], QT_QPA_PLATFORM="xcb")
    assert_all_checks_passed(result, "xcb")


def test_the_desktop_entry_launches_the_console_script_with_the_app_icon():
    entry = configparser.ConfigParser(interpolation=None)
    entry.optionxform = str  # keys are case-sensitive
    entry.read(RESOURCES / "fashion-desktop.desktop", encoding="utf-8")
    desktop = entry["Desktop Entry"]
    scripts = importlib.metadata.distribution("fashion-desktop").entry_points.select(group="console_scripts").names
    assert desktop["Type"] == "Application" and desktop["Name"] == "Fashion Desktop"
    assert desktop["Exec"].split()[0] in scripts and desktop["Terminal"] == "false"
    for size in (16, 32, 48, 64, 128, 256):  # what a hicolor icon theme install needs
        assert (RESOURCES / "icons" / f"{desktop['Icon']}-{size}.png").is_file()
    if shutil.which("desktop-file-validate"):  # CI installs it; the freedesktop rules in full
        checked = subprocess.run(
            ["desktop-file-validate", str(RESOURCES / "fashion-desktop.desktop")], capture_output=True, text=True
        )
        assert checked.returncode == 0 and not checked.stdout.strip(), checked.stdout
