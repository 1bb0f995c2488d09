"""Start the GUI: show the main window first, then load PyTorch, so the window appears without waiting for torch."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Sequence

from PySide6.QtCore import QEvent, QObject, QSize, QTimer
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication, QMessageBox

from fashion_desktop import __version__
from fashion_desktop.gui.main_window import MainWindow
from fashion_desktop.resources import ICON_SIZES, app_icon_path

EXIT_AFTER_PAINT = "FASHION_DESKTOP_EXIT_AFTER_PAINT"  # set to 1: print launch-to-first-paint in ms, then quit
_IMPORTED = time.perf_counter()


def run_app(argv: Sequence[str] | None = None) -> int:
    """Run the GUI until the main window closes; returns the exit status."""
    app = QApplication.instance() or QApplication(list(argv if argv is not None else sys.argv))
    app.setOrganizationName("Fashion Desktop")
    app.setApplicationName("Fashion Desktop")
    app.setApplicationVersion(__version__)
    app.setWindowIcon(app_icon())
    app.setDesktopFileName("fashion-desktop")  # resources/fashion-desktop.desktop: Wayland takes the icon from it
    window = MainWindow()
    window.show()
    if os.environ.get(EXIT_AFTER_PAINT):
        report = _FirstPaintReport(window)
        app.installEventFilter(report)
    else:
        QTimer.singleShot(0, lambda: finish_start_up(window))  # runs once the window has been drawn
    return app.exec()


def finish_start_up(window: MainWindow) -> None:
    """Load PyTorch, leave the GUI a core of its own, then let the window use torch."""
    try:
        import torch  # noqa: F401  (the slow import, made while the window is already on screen)

        from fashion_desktop.core.runtime import configure_threads

        configure_threads(leave_one_core=True)
    except Exception as error:  # a broken torch install: say so rather than vanish
        QMessageBox.critical(window, "PyTorch did not load", f"Fashion Desktop cannot train without PyTorch:\n{error}")
        return
    window.on_core_ready()


def app_icon() -> QIcon:
    """The app icon at every size we ship, so no size is scaled from another."""
    icon = QIcon()
    for size in ICON_SIZES:
        icon.addFile(str(app_icon_path(size)), QSize(size, size))
    return icon


class _FirstPaintReport(QObject):
    """For the start-up benchmark: print the ms from process start to the main window's first paint, then quit."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self._window = window

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt's name)
        if event.type() == QEvent.Type.Paint and watched.isWidgetType() and watched.window() is self._window:
            QApplication.instance().removeEventFilter(self)
            QTimer.singleShot(0, self._report)  # after the whole window has been painted and shown
        return False

    def _report(self) -> None:
        print(f"first paint after {_seconds_since_process_start() * 1000:.0f} ms", flush=True)
        QApplication.instance().quit()


def _seconds_since_process_start() -> float:
    """From the kernel's process start time where there is one (Linux), else from this module's import."""
    try:
        with open("/proc/self/stat") as stat, open("/proc/uptime") as uptime:
            start_ticks = int(stat.read().rsplit(")", 1)[1].split()[19])  # field 22, starttime
            return float(uptime.read().split()[0]) - start_ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return time.perf_counter() - _IMPORTED
