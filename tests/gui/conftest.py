"""GUI test set-up: Qt settings in a temporary place, no test may leave a thread running, and each test's windows
are destroyed when it ends."""

from __future__ import annotations

import gc
import threading

import pytest
from PySide6.QtCore import QCoreApplication, QEvent, QSettings, QThread
from PySide6.QtWidgets import QApplication


@pytest.fixture(autouse=True)
def _isolated_settings(tmp_path, monkeypatch):
    """QSettings and platformdirs write under tmp_path, never into the developer's real profile."""
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(tmp_path / "settings"))
    QCoreApplication.setOrganizationName("FashionDesktopTests")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))
    yield


@pytest.fixture(autouse=True)
def _no_dangling_threads(qapp, monkeypatch):
    """Fail a test that leaves a QThread running: it would abort the whole run later (pytest-qt #276)."""
    started: list[QThread] = []
    original_start = QThread.start

    def recording_start(thread, *args):
        started.append(thread)
        original_start(thread, *args)

    monkeypatch.setattr(QThread, "start", recording_start)
    before = set(threading.enumerate())
    yield
    qapp.processEvents()
    running = [t for t in started if _alive(t)]
    leftover = [t for t in threading.enumerate() if t not in before and t.is_alive() and not t.daemon]
    if running or leftover:
        for thread in running:  # let the session go on: wait for them before failing this test
            thread.quit()
            thread.wait(10_000)
        pytest.fail(f"the test left threads running: {running + leftover}")


def _alive(thread: QThread) -> bool:
    try:
        return thread.isRunning()
    except RuntimeError:  # the C++ object is already deleted, so the thread has finished
        return False


@pytest.fixture(autouse=True)
def _windows_destroyed_after_each_test(qapp):
    """Close and delete the test's windows, then collect its garbage, between tests, and only then.

    Left to the garbage collector, a window's pyqtgraph items were freed whenever a collection happened to run, in
    the middle of a later test's painting, and the run crashed with SIGSEGV (seen in test_main_window.py). With
    collections still free to run inside a test, a plot item was deleted in the middle of its own setData (the
    learning-rate preview's, 1 run in 4 of the training tests) and the run crashed again 1 in 7: so the collector
    is off while a test runs, and collects here, when nothing paints or runs a slot.
    """
    gc.disable()
    yield
    for widget in QApplication.topLevelWidgets():
        widget.close()
        widget.deleteLater()
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    gc.collect()
    gc.enable()
