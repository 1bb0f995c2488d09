"""Plot views that answer the mouse: hover read-outs, and a right-click menu for a log scale and PNG or SVG export."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from pyqtgraph.GraphicsScene.mouseEvents import MouseClickEvent
from PySide6.QtCore import QBuffer, QIODevice, QPoint, QPointF, QRectF, QSettings, Qt, Signal, Slot
from PySide6.QtGui import QAction, QColor, QContextMenuEvent, QGuiApplication, QImage, QPaintDevice, QPainter
from PySide6.QtWidgets import QFileDialog, QMenu, QMessageBox, QWidget

from fashion_desktop.gui.forms import remember_folder, remembered_folder
from fashion_desktop.gui.plots.style import (
    PowersOfTenAxis,
    background_color,
    style_plot,
    text_color,
    use_palette_colours,
)


def log_scale_setting(key: str) -> bool:
    return bool(QSettings().value(key, False, type=bool))


def is_log_y(plot: pg.PlotItem) -> bool:
    return bool(plot.getAxis("left").logMode)


@dataclass(frozen=True)
class ReadoutCurve:
    """A curve whose value the hover read-out names: ``name: value`` in the curve's colour."""

    name: str
    curve: pg.PlotDataItem
    color: QColor
    value_format: str = "{:.4g}"


class _Readout:
    """The values under the mouse in one plot: a vertical line on the nearest point, a label with each curve's value.

    It moves only with the mouse (a line and a label, never the curves), so hovering costs nothing while training.
    """

    def __init__(self, plot: pg.PlotItem, curves: Sequence[ReadoutCurve], describe_x: Callable[[float], str]) -> None:
        self.plot = plot
        self._curves = tuple(curves)
        self._describe_x = describe_x
        self.line = pg.InfiniteLine(angle=90, movable=False, pen=pg.mkPen(text_color(), width=1))
        fill = QColor(background_color())
        fill.setAlpha(220)
        self.label = pg.TextItem(anchor=(0, 0), border=pg.mkPen(text_color()), fill=fill)
        for item in (self.line, self.label):
            item.setZValue(1000)
            item.hide()
            plot.addItem(item, ignoreBounds=True)
        self.text = ""  # what the label says, for tests and for reading without parsing HTML

    def show_at(self, scene_pos: QPointF) -> bool:
        """Show the values nearest the mouse at ``scene_pos``; False (and hidden) when it is not over this plot."""
        view = self.plot.vb
        if not view.sceneBoundingRect().contains(scene_pos):
            self.hide()
            return False
        x, _ = self._curves[0].curve.getOriginalDataset()
        if x is None or len(x) == 0:
            self.hide()
            return True
        mouse_x = view.mapSceneToView(scene_pos).x()
        nearest = float(x[nearest_index(x, mouse_x)])
        lines = [self._describe_x(nearest)]
        html = [f"<b>{lines[0]}</b>"]
        for readout in self._curves:
            xs, ys = readout.curve.getOriginalDataset()
            if xs is None or len(xs) == 0:
                continue
            index = nearest_index(xs, nearest)
            if abs(xs[index] - nearest) > 1e-9:
                continue  # this curve has no point there (a validation loss not measured every epoch)
            line = f"{readout.name}: {readout.value_format.format(float(ys[index]))}"
            lines.append(line)
            html.append(f'<span style="color: {readout.color.name()};">{line}</span>')
        self.text = "\n".join(lines)
        self.label.setHtml(f'<div style="color: {text_color().name()};">{"<br>".join(html)}</div>')
        self._place_label(nearest)
        self.line.setValue(nearest)
        self.line.show()
        self.label.show()
        return True

    def _place_label(self, x: float) -> None:
        """At the top of the plot beside the line at ``x``, on a side where it fits, else from the plot's left edge.

        A narrow plot (the batch loss at 1024x768) has room on neither side: the label then covers the line.
        """
        view = self.plot.vb
        (left, _), (_, top) = view.viewRange()
        area = view.sceneBoundingRect()
        line_x = view.mapViewToScene(QPointF(x, top)).x()
        width = self.label.boundingRect().width()  # in pixels: the text ignores the view's scaling
        if width <= area.right() - line_x:
            self.label.setAnchor((0, 0))
            self.label.setPos(x, top)
        elif width <= line_x - area.left():
            self.label.setAnchor((1, 0))
            self.label.setPos(x, top)
        else:
            self.label.setAnchor((0, 0))
            self.label.setPos(left, top)

    def hide(self) -> None:
        self.line.hide()
        self.label.hide()
        self.text = ""


def nearest_index(values: np.ndarray, target: float) -> int:
    """The index of the value nearest ``target`` in ``values``, sorted ascending."""
    index = int(np.searchsorted(values, target))
    if index >= len(values):
        return len(values) - 1
    if index > 0 and target - values[index - 1] < values[index] - target:
        return index - 1
    return index


class InteractivePlots(pg.GraphicsView):
    """A view of one or more PlotItems with hover read-outs and a context menu: log scale, export as PNG or SVG.

    Signals:
        status_message: a line for the status bar (a plot exported).
    """

    status_message = Signal(str)
    log_scale_changed = Signal(object)  # the PlotItem whose value axis became logarithmic or linear

    def __init__(self, parent: QWidget | None = None) -> None:
        use_palette_colours()
        super().__init__(parent, background=background_color())
        self._readouts: list[_Readout] = []
        self.plot_actions: dict[pg.PlotItem, list[QAction]] = {}
        self.log_actions: dict[pg.PlotItem, QAction] = {}
        self.scene().sigMouseMoved.connect(self._on_scene_mouse_moved)
        # pyqtgraph's scene accepts every mouse press, so Qt sends no context-menu event for a right click.
        self.scene().sigMouseClicked.connect(self._on_scene_mouse_clicked)

    def add_readout(
        self, plot: pg.PlotItem, curves: Sequence[ReadoutCurve], describe_x: Callable[[float], str]
    ) -> None:
        self._readouts.append(_Readout(plot, curves, describe_x))

    def readout(self, plot: pg.PlotItem) -> _Readout:
        return next(r for r in self._readouts if r.plot is plot)

    def add_plot_menu(self, plot: pg.PlotItem, file_name: str, log_setting: str | None = None) -> None:
        """Give ``plot`` a context menu: export as ``file_name``.png/.svg and, with ``log_setting``, a log scale."""
        actions = []
        if log_setting is not None:
            log = QAction("Log scale", self, checkable=True)
            log.setToolTip("a logarithmic value axis, remembered for the next time")
            log.setChecked(log_scale_setting(log_setting))
            plot.setLogMode(y=log.isChecked())
            log.toggled.connect(partial(self._on_log_action_toggled, plot, log_setting))
            self.log_actions[plot] = log
            actions.append(log)
        for suffix, text in (("png", "Export as PNG image..."), ("svg", "Export as SVG drawing...")):
            export = QAction(text, self)
            export.triggered.connect(partial(self._on_export_action_triggered, plot, file_name, suffix))
            actions.append(export)
        self.plot_actions[plot] = actions

    def plot_at(self, scene_pos: QPointF) -> pg.PlotItem | None:
        """The plot with a context menu at ``scene_pos``, if any."""
        return next((p for p in self.plot_actions if p.sceneBoundingRect().contains(scene_pos)), None)

    def show_menu(self, plot: pg.PlotItem, screen_pos: QPoint) -> None:
        menu = QMenu(self)
        menu.addActions(self.plot_actions[plot])
        self.exec_menu(menu, screen_pos)

    def exec_menu(self, menu: QMenu, screen_pos: QPoint) -> None:
        """Show ``menu`` until the user picks from it or leaves it. Tests override this."""
        menu.exec(screen_pos)

    def export_plot(self, plot: pg.PlotItem, path: Path) -> None:
        """Write ``plot`` as a PNG image or an SVG drawing, after its suffix (at twice its size on screen, for PNG).

        Not pyqtgraph's exporters: its ImageExporter leaves parentless Qt objects (its parameter tree) that crashed
        the app at exit, and its SVGExporter fails on the paths Qt 6's QSvgGenerator writes (pyqtgraph issue 3485).
        """
        from PySide6.QtSvg import QSvgGenerator

        from fashion_desktop.core.files import atomic_write

        self.hide_readouts()  # the read-out under the mouse is no part of the plot
        size = plot.sceneBoundingRect().size()
        buffer = QBuffer()
        buffer.open(QIODevice.OpenModeFlag.WriteOnly)
        if path.suffix.lower() == ".svg":
            generator = QSvgGenerator()
            generator.setOutputDevice(buffer)
            generator.setSize(size.toSize())
            generator.setViewBox(QRectF(QPointF(0, 0), size))
            # The screen's resolution, as pyqtgraph's exporter does: at the default 72 dpi the text came out at 3/4.
            generator.setResolution(round(QGuiApplication.primaryScreen().logicalDotsPerInchX()))
            generator.setTitle(plot.titleLabel.text)
            self._paint(plot, generator, QRectF(QPointF(0, 0), size))
        else:
            image = QImage((2 * size).toSize(), QImage.Format.Format_ARGB32)
            self._paint(plot, image, QRectF(QPointF(0, 0), 2 * size))
            image.save(buffer, "PNG")
        atomic_write(path, bytes(buffer.data().data()))

    def _paint(self, plot: pg.PlotItem, device: QPaintDevice, target: QRectF) -> None:
        """Draw ``plot`` onto ``device``, filling ``target``, on the plots' background."""
        from pyqtgraph.exporters import Exporter

        painter = QPainter(device)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        export_mode = Exporter(plot)  # in export mode, the dots are drawn as shapes rather than copied pixmaps
        try:
            export_mode.setExportMode(True, {"antialias": True, "background": background_color(), "painter": painter})
            painter.fillRect(target, background_color())
            self.scene().render(painter, target, plot.sceneBoundingRect())
        finally:
            export_mode.setExportMode(False)
            painter.end()

    def ask_export_path(self, suggested: str, suffix: str) -> str:
        """Ask where to export a plot; an empty string cancels."""
        kind = "PNG images (*.png)" if suffix == "png" else "SVG drawings (*.svg)"
        path, _ = QFileDialog.getSaveFileName(self, "Export the plot", suggested, kind)
        return path

    def hide_readouts(self) -> None:
        for readout in self._readouts:
            readout.hide()

    def leaveEvent(self, event: object) -> None:
        self.hide_readouts()
        super().leaveEvent(event)

    def contextMenuEvent(self, event: QContextMenuEvent) -> None:
        """The menu key's menu (a right click comes through the scene's click signal instead)."""
        plot = self.plot_at(self.mapToScene(event.pos()))
        if plot is None:
            super().contextMenuEvent(event)
            return
        self.show_menu(plot, event.globalPos())
        event.accept()

    @Slot(object)
    def _on_scene_mouse_clicked(self, event: MouseClickEvent) -> None:
        if event.button() != Qt.MouseButton.RightButton:
            return
        plot = self.plot_at(event.scenePos())
        if plot is not None:
            event.accept()
            self.show_menu(plot, event.screenPos().toPoint())

    @Slot(object)
    def _on_scene_mouse_moved(self, scene_pos: QPointF) -> None:
        for readout in self._readouts:
            readout.show_at(scene_pos)

    def _on_log_action_toggled(self, plot: pg.PlotItem, setting: str, log: bool) -> None:
        QSettings().setValue(setting, log)
        plot.setLogMode(y=log)
        self.hide_readouts()
        self.log_scale_changed.emit(plot)

    def _on_export_action_triggered(
        self, plot: pg.PlotItem, file_name: str, suffix: str, _checked: bool = False
    ) -> None:
        suggested = str(Path(remembered_folder("plots", Path.home())) / f"{file_name}.{suffix}")
        chosen = self.ask_export_path(suggested, suffix)
        if not chosen:
            return
        path = Path(chosen) if Path(chosen).suffix else Path(chosen).with_suffix(f".{suffix}")
        remember_folder("plots", path)
        try:
            self.export_plot(plot, path)
        except OSError as error:
            QMessageBox.critical(self, "Cannot export the plot", f"Cannot write {path}: {error.strerror or error}")
            return
        self.status_message.emit(f"Exported the plot to {path}")


class PlotView(InteractivePlots):
    """A view of one PlotItem.

    Not a pg.PlotWidget: that binds the PlotItem's ``clear`` (which removes every curve) over the subclass's own.
    """

    def __init__(self, title: str, x_label: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.plot_item = pg.PlotItem(axisItems={"left": PowersOfTenAxis("left")})
        self.setCentralItem(self.plot_item)
        style_plot(self.plot_item, title, x_label)
