"""Start the GUI: show the main window first, then load PyTorch, so the window appears without waiting for torch."""

from __future__ import annotations

import importlib
import os
import sys
import time
from collections.abc import Sequence

from PySide6.QtCore import QEvent, QObject, QSize, Qt, QThread, QTimer, Signal, Slot
from PySide6.QtGui import QColor, QIcon, QPalette
from PySide6.QtWidgets import QApplication

from fashion_desktop import __version__
from fashion_desktop.gui.forms import is_dark
from fashion_desktop.gui.main_window import MainWindow
from fashion_desktop.gui.training_worker import start_in_thread
from fashion_desktop.resources import ICON_SIZES, app_icon_path

EXIT_AFTER_PAINT = "FASHION_DESKTOP_EXIT_AFTER_PAINT"  # set to 1: print launch-to-first-paint in ms, then quit
_IMPORTED = time.perf_counter()
# What the tabs' on_core_ready() use, torch first: imported by CoreLoader, off the GUI thread.
_CORE = ("runtime", "builder", "optim", "data", "engine", "checkpoint", "imaging", "inference", "explain", "runs")
CORE_MODULES = ("torch", "torchvision", *(f"fashion_desktop.core.{name}" for name in _CORE))


def run_app(argv: Sequence[str] | None = None) -> int:
    """Run the GUI until the main window closes; returns the exit status."""
    app = QApplication.instance() or QApplication(list(argv if argv is not None else sys.argv))
    app.setOrganizationName("Fashion Desktop")
    app.setApplicationName("Fashion Desktop")
    app.setApplicationVersion(__version__)
    app.setWindowIcon(app_icon())
    app.setDesktopFileName("fashion-desktop")  # resources/fashion-desktop.desktop: Wayland takes the icon from it
    follow_colour_scheme(app)
    window = MainWindow()
    window.show()
    signal_timer = close_on_terminal_signals(window)  # kept referenced while the loop runs
    if os.environ.get(EXIT_AFTER_PAINT):
        report = _FirstPaintReport(window)
        app.installEventFilter(report)
        return app.exec()
    thread = load_core_in_background(window)
    try:
        return app.exec()
    finally:
        signal_timer.stop()
        thread.wait()  # a window closed while torch loads: the import cannot be cut short, and is quick to end


def close_on_terminal_signals(window: MainWindow) -> QTimer:
    """Close the window (as its close button does, stopping any run) on Ctrl+C or SIGTERM in its terminal.

    Python runs signal handlers only between bytecodes, never while Qt's event loop waits in C++, so a timer
    hands control back to Python a few times a second; the returned timer must stay referenced.
    """
    import signal

    def close(signum: int, frame: object) -> None:
        QTimer.singleShot(0, window.close)

    for number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(number, close)
    timer = QTimer()
    timer.timeout.connect(lambda: None)
    timer.start(200)
    return timer


def follow_colour_scheme(app: QApplication) -> None:
    """Use a dark palette where the system says it is in dark mode, now and whenever that changes.

    Qt reports the system's scheme (``QStyleHints.colorScheme``) on every desktop, but not every platform theme
    gives a dark palette with it: there Fusion with :func:`dark_palette` follows it instead.
    """
    _apply_colour_scheme(app, app.styleHints().colorScheme())
    app.styleHints().colorSchemeChanged.connect(lambda scheme: _apply_colour_scheme(app, scheme))


def _apply_colour_scheme(app: QApplication, scheme: Qt.ColorScheme) -> None:
    if scheme == Qt.ColorScheme.Dark and not is_dark(app.palette()):
        app.setStyle("Fusion")
        app.setPalette(dark_palette())
    elif scheme == Qt.ColorScheme.Light and is_dark(app.palette()):
        app.setPalette(app.style().standardPalette())


def dark_palette() -> QPalette:
    """A dark palette for Fusion, with light text and a blue highlight."""
    roles = QPalette.ColorRole
    colours = {
        roles.Window: "#2b2d31",
        roles.WindowText: "#e6e6e6",
        roles.Base: "#1e1f22",
        roles.AlternateBase: "#26282c",
        roles.ToolTipBase: "#3a3d42",
        roles.ToolTipText: "#e6e6e6",
        roles.PlaceholderText: "#8c8f94",
        roles.Text: "#e6e6e6",
        roles.Button: "#35373c",
        roles.ButtonText: "#e6e6e6",
        roles.BrightText: "#ff6b6b",
        roles.Light: "#4a4d52",
        roles.Midlight: "#3f4247",
        roles.Mid: "#2f3136",
        roles.Dark: "#191a1d",
        roles.Shadow: "#000000",
        roles.Highlight: "#3d7dd8",
        roles.HighlightedText: "#ffffff",
        roles.Link: "#6cb6ff",
        roles.LinkVisited: "#b48ef0",
    }
    palette = QPalette()
    for role, colour in colours.items():
        palette.setColor(role, QColor(colour))
    for role in (roles.WindowText, roles.Text, roles.ButtonText):
        palette.setColor(QPalette.ColorGroup.Disabled, role, QColor("#7a7d82"))
    return palette


def load_core_in_background(window: MainWindow) -> QThread:
    """Start importing PyTorch and the core on a CoreLoader thread; the window hears when they are ready.

    The window keeps the loader and its thread referenced until the thread has finished: a loader that only a
    local variable held would be collected at once, its ``run()`` would never execute, and the window would wait
    for PyTorch for ever. The caller waits on the thread returned before the application ends.
    """
    loader = CoreLoader()
    loader.loaded.connect(window.on_core_ready)
    loader.failed.connect(window.on_core_failed)
    window.core_loader = loader  # before the start: the thread may finish before start_in_thread returns
    thread = start_in_thread(loader, on_finished=window.on_core_thread_finished)
    window.core_thread = thread
    return thread


class CoreLoader(QObject):
    """Imports PyTorch and the core on a thread of its own, while the window is already on screen.

    On the GUI thread these imports froze the new window for about two seconds. Each tab's ``on_core_ready()``
    then finds them in ``sys.modules``; until then no tab imports torch, so the two threads never wait on one
    another's imports.

    Signals:
        loaded: everything imported; torch's thread count is set.
        failed: why PyTorch did not load, in words.
        finished: always last.
    """

    loaded = Signal()
    failed = Signal(str)
    finished = Signal()

    @Slot()
    def run(self) -> None:
        try:
            for name in CORE_MODULES:
                importlib.import_module(name)
            from fashion_desktop.core.runtime import configure_threads

            configure_threads()  # for training; the GUI thread keeps to one core (MainWindow.on_core_ready)
        except Exception as error:  # a broken torch install: say so rather than vanish
            self.failed.emit(f"{type(error).__name__}: {error}")
        else:
            self.loaded.emit()
        finally:
            self.finished.emit()


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

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
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
