"""The Training tab's "Inside" panel: what each layer does while the network trains.

Per layer, over the run (x in epochs, a few points an epoch): the norm of its weights' gradient (log scale, where
vanishing gradients show as early layers far below the late ones), the fraction of dead units of the ReLU-family
layers, the standard deviation of each layer's output, and a histogram of the weights of a chosen layer at the
latest measurement. The numbers come from ``core.activity.NetworkActivity`` on the training thread.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import pyqtgraph as pg
from PySide6.QtCore import QTimer, Slot
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from fashion_desktop.gui.plots.style import background_color, coloured_title, style_plot, text_color

if TYPE_CHECKING:  # core.activity loads torch; the panel only reads its plain dataclasses
    from fashion_desktop.core.activity import ActivitySnapshot

REDRAW_INTERVAL_MS = 100  # the curves redraw at most this often while measurements stream in
# One colour per layer, in the order of the network (matplotlib's tab10, which stays legible on dark and light).
LAYER_COLORS = tuple(
    QColor(c)
    for c in (
        "#1f77b4",
        "#ff7f0e",
        "#2ca02c",
        "#d62728",
        "#9467bd",
        "#8c564b",
        "#e377c2",
        "#7f7f7f",
        "#bcbd22",
        "#17becf",
    )
)


class InsidePanel(QWidget):
    """Per-layer curves of gradient norm, dead fraction and activation std, and one layer's weight histogram."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.snapshots: list[ActivitySnapshot] = []
        self.view = pg.GraphicsView(background=background_color())
        layout = pg.GraphicsLayout()
        self.view.setCentralItem(layout)
        self.grad_plot = layout.addPlot(row=0, col=0)
        self.dead_plot = layout.addPlot(row=0, col=1)
        self.std_plot = layout.addPlot(row=1, col=0)
        self.histogram_plot = layout.addPlot(row=1, col=1)
        self.grad_plot.setLogMode(y=True)
        self.view.setToolTip(
            "Gradient norm: of each layer's weights, from the latest training batch. Dead units: of the ReLU-family "
            "layers, the units that are never above 0 on the validation images. Output std: of each layer's output."
        )
        self.dead_plot.setYRange(0, 100, padding=0.02)
        for plot, title in zip((self.grad_plot, self.dead_plot, self.std_plot), _TITLES.values(), strict=True):
            style_plot(plot, title, "epoch")
        style_plot(self.histogram_plot, "Weights", "weight")
        self._histogram = pg.BarGraphItem(x=[], height=[], width=1, brush=LAYER_COLORS[0], pen=None)
        self.histogram_plot.addItem(self._histogram)
        self.layer_combo = QComboBox()
        self.layer_combo.setToolTip("the layer whose weights the histogram shows")
        self.layer_combo.currentIndexChanged.connect(self._draw_histogram)
        self.note = QLabel("Start training to see inside the network: each layer is measured a few times an epoch.")
        self.note.setWordWrap(True)
        controls = QHBoxLayout()
        controls.addWidget(self.note, 1)
        controls.addWidget(QLabel("Weights of"))
        controls.addWidget(self.layer_combo)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addLayout(controls)
        self.legend = QLabel(wordWrap=True)
        outer.addWidget(self.legend)
        outer.addWidget(self.view, 1)
        self._curves: dict[tuple[str, str], pg.PlotDataItem] = {}  # (plot, layer name) -> curve
        # Each redraw draws every snapshot so far: on tiny data, where epochs take milliseconds, redrawing for each
        # one fell ever further behind and starved the event loop. At once, then at most once per interval.
        self._redraw_timer = QTimer(self, singleShot=True, interval=REDRAW_INTERVAL_MS)
        self._redraw_timer.timeout.connect(self._on_redraw_timer_timeout)
        self._redraw_pending = False

    # -- feeding --
    def clear(self) -> None:
        self.set_snapshots(())

    def set_snapshots(self, snapshots: Sequence[ActivitySnapshot]) -> None:
        """Show exactly these measurements (a stored run's, or none before a new run)."""
        self.snapshots = list(snapshots)
        for plot in (self.grad_plot, self.dead_plot, self.std_plot):
            plot.clear()
        self._curves = {}
        self.layer_combo.clear()
        self.legend.clear()
        self._redraw()

    @Slot(object)
    def add_snapshot(self, snapshot: ActivitySnapshot) -> None:
        self.snapshots.append(snapshot)
        if self._redraw_timer.isActive():
            self._redraw_pending = True
        else:
            self._redraw()
            self._redraw_timer.start()

    @property
    def redraw_pending(self) -> bool:
        """True while measurements that arrived within the interval wait to be drawn."""
        return self._redraw_pending

    @Slot()
    def _on_redraw_timer_timeout(self) -> None:
        if self._redraw_pending:
            self._redraw_pending = False
            self._redraw()
            self._redraw_timer.start()

    # -- drawing --
    def _redraw(self) -> None:
        if not self.snapshots:
            self._histogram.setOpts(x=[], height=[])
            return
        latest = self.snapshots[-1]
        names = [layer.name for layer in latest.layers]
        colors = {name: LAYER_COLORS[i % len(LAYER_COLORS)] for i, name in enumerate(names)}
        positions = [s.position for s in self.snapshots]
        series = {
            "grad": ([name for name in names if latest.layer(name).grad_norm is not None], "grad_norm", 1.0),
            "dead": ([name for name in names if latest.layer(name).dead_fraction is not None], "dead_fraction", 100.0),
            "std": (names, "std", 1.0),
        }
        plots = {"grad": self.grad_plot, "dead": self.dead_plot, "std": self.std_plot}
        for key, (shown, field, scale) in series.items():
            for name in shown:
                values = [_value(s, name, field) * scale for s in self.snapshots]
                if key == "grad":  # a zero norm has no logarithm: leave the point out
                    values = [v if v > 0 else math.nan for v in values]
                curve = self._curves.get((key, name))
                if curve is None:
                    color = colors[name]
                    pen = pg.mkPen(color, width=2)
                    curve = plots[key].plot(pen=pen, symbol="o", symbolSize=4, symbolBrush=color, symbolPen=color)
                    self._curves[key, name] = curve
                curve.setData(positions, values, connect="finite")
        dead_title = _TITLES["dead"] if series["dead"][0] else f"{_TITLES['dead']}: no ReLU-family layer"
        self.dead_plot.setTitle(dead_title, color=text_color(), size="10pt")
        weighted = [layer.name for layer in latest.layers if layer.weights is not None]
        if [self.layer_combo.itemText(i) for i in range(self.layer_combo.count())] != weighted:
            chosen = self.layer_combo.currentText()
            self.layer_combo.blockSignals(True)
            self.layer_combo.clear()
            self.layer_combo.addItems(weighted)
            self.layer_combo.setCurrentIndex(max(0, self.layer_combo.findText(chosen)))
            self.layer_combo.blockSignals(False)
        # One legend for the four plots, in words that wrap: in the plots' titles eleven names made them too wide.
        self.legend.setText(coloured_title("Layers", [(name, colors[name]) for name in names]))
        self.note.setText(
            f"Epoch {latest.epoch}, batch {latest.batch} of {latest.batches}. Gradients of the early layers far "
            "below the last layer's are vanishing gradients; a dead unit is never above 0 on the validation images."
        )
        self._draw_histogram()

    @Slot()
    def _draw_histogram(self) -> None:
        name = self.layer_combo.currentText()
        if not self.snapshots or not name:
            return
        snapshot = self.snapshots[-1]
        histogram = snapshot.layer(name).weights
        if histogram is None:
            return
        edges = histogram.edges
        width = (edges[1] - edges[0]) if len(edges) > 1 else 1.0
        centres = [(a + b) / 2 for a, b in zip(edges[:-1], edges[1:], strict=True)]
        index = [layer.name for layer in snapshot.layers].index(name)
        self._histogram.setOpts(
            x=centres, height=list(histogram.counts), width=width or 1.0, brush=LAYER_COLORS[index % len(LAYER_COLORS)]
        )
        self.histogram_plot.setTitle(
            f"Weights of {name} (epoch {snapshot.position:.2f})", color=text_color(), size="10pt"
        )


_TITLES = {"grad": "Gradient norm (log)", "dead": "Dead units (%)", "std": "Output std"}


def _value(snapshot: ActivitySnapshot, name: str, field: str) -> float:
    """The layer's number in this snapshot; NaN (a gap in the curve) where the layer was absent or had none."""
    layer = next((layer for layer in snapshot.layers if layer.name == name), None)
    value = getattr(layer, field, None) if layer is not None else None
    return math.nan if value is None else float(value)
