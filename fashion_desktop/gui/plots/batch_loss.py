"""The loss of every training batch and its moving average, with the slider that sets how much the average smooths."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QSettings, Qt, Signal, Slot
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSlider, QVBoxLayout, QWidget

from fashion_desktop.core.metrics import BatchMetrics
from fashion_desktop.gui.plots.interactive import PlotView, ReadoutCurve, is_log_y, nearest_index
from fashion_desktop.gui.plots.style import TRAIN_COLOR, background_color, coloured_title, faint, text_color

DEFAULT_SMOOTHING = 95  # percent: the batch loss's moving average keeps 0.95 of itself at each batch
MAX_SMOOTHING = 99
SMOOTHING_SETTING = "plots/smoothing"


def batch_legend_color() -> QColor:
    """The colour naming the faint per-batch curve in its title: darker on a light ground, lighter on a dark one."""
    if background_color().lightness() < 128:  # faded towards near-black, the curve's own colour could not be read
        return TRAIN_COLOR.lighter(150)
    return faint(TRAIN_COLOR).darker(130)


class _Columns:
    """Growable float columns: appending a few rows costs amortised O(1) and the plots get views, not copies."""

    def __init__(self, columns: int, capacity: int = 4096) -> None:
        self._data = np.empty((columns, capacity))
        self.size = 0

    def extend(self, rows: np.ndarray) -> None:
        """Append ``rows``, an array of shape (columns, n)."""
        end = self.size + rows.shape[1]
        if end > self._data.shape[1]:
            grown = np.empty((self._data.shape[0], max(end, 2 * self._data.shape[1])))
            grown[:, : self.size] = self._data[:, : self.size]
            self._data = grown
        self._data[:, self.size : end] = rows
        self.size = end

    def column(self, index: int) -> np.ndarray:
        return self._data[index, : self.size]

    def truncate(self, size: int) -> None:
        """Keep only the first ``size`` rows."""
        self.size = min(self.size, max(0, size))

    def clear(self) -> None:
        self.size = 0


def smoothed(values: np.ndarray, weight: float, start: float | None = None) -> np.ndarray:
    """The exponential moving average of ``values`` as TensorBoard smooths: each point keeps ``weight`` of the last.

    It starts from ``start`` (the average before these values), or from the first value.
    """
    out = np.empty(len(values))
    average = start
    for i, value in enumerate(values.tolist()):
        average = value if average is None else weight * average + (1 - weight) * value
        out[i] = average
    return out


class BatchLossPlot(QWidget):
    """The loss of every training batch (faint) and its exponentially weighted moving average, x in epochs.

    A slider under the plot sets how much the average smooths (as TensorBoard's does); right-click the plot for a
    log scale or to export it. It redraws several times a second while training, holding the GIL the training
    thread needs, so it is kept cheap: no grid (the grid belongs to the axes, which would then repaint with every
    curve update), solid thin pens, and a view range that changes once an epoch rather than with every batch.

    Signals:
        status_message: a line for the status bar (the plot exported).
    """

    status_message = Signal(str)
    LOG_SETTING = "plots/log_batch_loss"

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.view = PlotView("Training loss per batch", "epoch")
        self.view.status_message.connect(self.status_message)
        self.plot_item = plot = self.view.plot_item
        plot.showGrid(x=False, y=False)
        # The legend in the title: in the plot it covered the curve whenever the loss rose to its corner.
        plot.setTitle(
            coloured_title("Training loss", (("each batch", batch_legend_color()), ("smoothed", TRAIN_COLOR))),
            color=text_color(),
            size="10pt",
        )
        # Only the visible range is drawn, and at most a few points per pixel, so 100k batches stay cheap.
        plot.setClipToView(True)
        plot.setDownsampling(auto=True, mode="peak")
        plot.disableAutoRange()
        self._raw = plot.plot(pen=pg.mkPen(faint(TRAIN_COLOR)), name="batch")
        self._smooth = plot.plot(pen=pg.mkPen(TRAIN_COLOR, width=1.5), name="smoothed")
        self._columns = _Columns(5)  # x, loss, moving average, epoch, batch
        self._batches_per_epoch = 0
        self._range: tuple[float, float, float, float] | None = None  # first and last epoch, lowest and highest loss
        self.view.add_readout(
            plot,
            (
                ReadoutCurve("batch", self._raw, batch_legend_color()),
                ReadoutCurve("smoothed", self._smooth, TRAIN_COLOR),
            ),
            self._describe_batch,
        )
        self.view.add_plot_menu(plot, "training-loss-per-batch", self.LOG_SETTING)
        self.view.log_scale_changed.connect(self._on_view_log_scale_changed)
        self.view.setToolTip("right-click for a log scale or to export the plot")

        self.smoothing_slider = QSlider(Qt.Orientation.Horizontal, minimum=0, maximum=MAX_SMOOTHING, pageStep=10)
        self.smoothing_slider.setToolTip(
            "how much the smoothed curve averages over earlier batches, as in TensorBoard: 0 follows each batch"
        )
        self.smoothing_slider.setMinimumWidth(60)
        saved = QSettings().value(SMOOTHING_SETTING, DEFAULT_SMOOTHING, type=int)
        self.smoothing_slider.setValue(min(MAX_SMOOTHING, max(0, int(saved))))  # type: ignore[call-overload]
        self.smoothing_label = QLabel()
        self.smoothing_label.setMinimumWidth(self.smoothing_label.fontMetrics().horizontalAdvance("0.00 "))
        self.smoothing_slider.valueChanged.connect(self._on_smoothing_slider_value_changed)
        row = QHBoxLayout()
        row.setContentsMargins(4, 0, 4, 0)
        row.addWidget(QLabel("Smoothing"))
        row.addWidget(self.smoothing_slider, 1)
        row.addWidget(self.smoothing_label)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(self.view, 1)
        layout.addLayout(row)
        self._show_smoothing_label()

    @property
    def points(self) -> int:
        """How many batches are plotted."""
        return self._columns.size

    @property
    def smoothing(self) -> float:
        """The moving average's weight, 0 (none) to 0.99."""
        return self.smoothing_slider.value() / 100

    def append(self, batches: Sequence[BatchMetrics]) -> None:
        if not batches:
            return
        self._batches_per_epoch = batches[-1].batches
        rows = np.empty((5, len(batches)))
        for i, metrics in enumerate(batches):
            rows[:, i] = (
                metrics.epoch - 1 + metrics.batch / metrics.batches,
                metrics.loss,
                0.0,
                metrics.epoch,
                metrics.batch,
            )
        last = float(self._columns.column(2)[-1]) if self._columns.size else None
        rows[2] = smoothed(rows[1], self.smoothing, last)
        self._columns.extend(rows)
        self._set_curves()
        losses = rows[1][rows[1] > 0]
        first, _, low, high = self._range or (batches[0].epoch - 1, 0, math.inf, 0.0)
        wanted = (
            first,
            batches[-1].epoch,
            min(low, float(losses.min())) if len(losses) else low,
            max(high, float(rows[1].max())),
        )
        if wanted != self._range:
            self._range = wanted
            self._show_range()

    def truncate(self, epochs: int) -> None:
        """Keep the batches of the first ``epochs`` epochs only: a run continued from there draws the rest again."""
        x = self._columns.column(0)
        # Batches of epoch e lie in (e - 1, e]; a small tolerance keeps an epoch's last batch despite rounding.
        kept = int(np.searchsorted(x, epochs + 1e-9, side="right"))
        if kept == self._columns.size:
            return
        if kept == 0:
            self.clear()
            return
        self._columns.truncate(kept)
        self._set_curves()
        losses = self._columns.column(1)
        positive = losses[losses > 0]
        low = float(positive.min()) if len(positive) else math.inf
        self._range = (math.floor(self._columns.column(0)[0]), epochs, low, float(losses.max()))
        self._show_range()

    def clear(self) -> None:
        self._columns.clear()
        self._range = None
        self._raw.setData([], [])
        self._smooth.setData([], [])
        self.view.hide_readouts()

    def _set_curves(self) -> None:
        x = self._columns.column(0)
        self._raw.setData(x, self._columns.column(1))
        self._smooth.setData(x, self._columns.column(2))

    def _show_range(self) -> None:
        if self._range is None:
            return
        first, last, low, high = self._range
        if is_log_y(self.plot_item) and 0 < low <= high:
            y_range = (math.log10(low), math.log10(high))  # a log axis's range is in powers of ten
        else:
            y_range = (0, high)
        self.plot_item.setRange(xRange=(first, last), yRange=y_range, padding=0.02)

    def _describe_batch(self, x: float) -> str:
        index = nearest_index(self._columns.column(0), x)
        epoch, batch = int(self._columns.column(3)[index]), int(self._columns.column(4)[index])
        return f"epoch {epoch}, batch {batch:,} of {self._batches_per_epoch:,}"

    def _show_smoothing_label(self) -> None:
        self.smoothing_label.setText(f"{self.smoothing:.2f}")

    @Slot(object)
    def _on_view_log_scale_changed(self, _plot: pg.PlotItem) -> None:
        self._show_range()

    @Slot(int)
    def _on_smoothing_slider_value_changed(self, _value: int) -> None:
        QSettings().setValue(SMOOTHING_SETTING, self.smoothing_slider.value())
        self._show_smoothing_label()
        if self._columns.size:
            self._columns.column(2)[:] = smoothed(self._columns.column(1), self.smoothing)
            self._smooth.setData(self._columns.column(0), self._columns.column(2))
