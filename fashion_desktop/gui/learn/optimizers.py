"""The optimizer experiment: torch's optimizers stepping live on 2-D loss surfaces, and the first-steps table."""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt, QTimer, Signal, Slot
from PySide6.QtGui import QHideEvent, QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHeaderView,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QWidget,
)

from fashion_desktop.core import learn
from fashion_desktop.core.config import OPTIMIZERS
from fashion_desktop.gui.forms import OptionsForm
from fashion_desktop.gui.learn.page import ExperimentPage, ValueSlider, colour, linear_values, log_values

TICK_MS = 16  # the live stepping redraws about 60 times a second...
TICK_BUDGET_S = 0.010  # ...and steps for at most this long each time, so the window stays responsive
STEPS_PER_CHUNK = 4
CLASSIC_COUNT = 6  # the first choices (SGD ... Adam) are ticked at the start


class OptimizersPage(ExperimentPage):
    """The optimizer experiment, stepping live on a timer.

    Signals:
        optimizer_chosen: the OptimizerChoice selected in the list, for the Training tab.
    """

    optimizer_chosen = Signal(object)
    title = "Optimizers"
    explanation = (
        "The real torch.optim optimizers, with your settings, walking down a 2-D loss surface from the same "
        "start (the star marks the minimum).\nMomentum carries speed through the valley; AdaGrad, RMSProp and Adam "
        "scale each coordinate's step by its gradients' history. The table: the first steps on w²/2 from w = 1."
    )
    formula = (
        "SGD: w ← w − η g;   momentum: v ← μv + g, w ← w − η v;   RMSProp: s ← αs + (1 − α)g², w ← w − η g / √(s + ε);"
        "   Adam: m ← β₁m + (1 − β₁)g, s ← β₂s + (1 − β₂)g², w ← w − η m̂ / (√ŝ + ε)"
    )

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.slowest_tick_ms = 0.0
        self._choices = learn.optimizer_choices()
        self._runs: list[learn.OptimizerRun | None] = []
        self._problems: list[str] = []  # options torch refused, in its words
        self._paused = False  # stepping stopped while the page is hidden
        self.surface_combo = self.add_row("surface", QComboBox())
        for surface in learn.SURFACES.values():
            self.surface_combo.addItem(surface.label, surface.name)
        self.lr_slider = self.add_row("learning rate η", ValueSlider(log_values(1e-4, 1.0), 0.1, -1))
        self.steps_slider = self.add_row("steps", ValueSlider(linear_values(10, 1000, 10), 200, 0))
        self.optimizer_list = QListWidget()
        for i, choice in enumerate(self._choices):
            item = QListWidgetItem(choice.label)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Checked if i < CLASSIC_COUNT else Qt.CheckState.Unchecked)
            item.setForeground(colour(i))
            self.optimizer_list.addItem(item)
        self.optimizer_list.setMaximumHeight(150)
        self.add_row("optimizers", self.optimizer_list)
        self.options_form = OptionsForm()
        self.controls.addRow(self.options_form)
        self.send_button = QPushButton("Use the selected optimizer for training")
        self.send_button.setToolTip("Set the Training tab's optimizer and its options to the selected one")
        self.send_button.clicked.connect(self._on_send_clicked)
        self.controls_column.addWidget(self.send_button)
        self.table = QTableWidget(len(learn.FIRST_STEP_CHOICES), 3)
        self.table.setHorizontalHeaderLabels(["on w²/2, η = 0.01", "w₁", "w₂"])
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        row_height = self.table.fontMetrics().height() + 6
        self.table.verticalHeader().setDefaultSectionSize(row_height)
        self.table.setFixedHeight(
            row_height * len(learn.FIRST_STEP_CHOICES) + self.table.horizontalHeader().sizeHint().height() + 4
        )
        self.table.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.controls_column.addWidget(self.table)
        self.controls_column.addStretch(1)

        self.surface_plot = self.add_plot("", "w₁", "w₂", row=0, col=0, legend=False)  # the list is the legend
        self.surface_image = pg.ImageItem()
        self.surface_image.setZValue(-20)
        self.surface_plot.addItem(self.surface_image)
        self.minimum_marker = self.surface_plot.plot(
            pen=None, symbol="star", symbolSize=14, symbolBrush=(0, 0, 0), symbolPen=None
        )
        self.loss_plot = self.add_plot("Loss per step", "step", "f(w)", row=0, col=1, legend=False)
        self.plots.ci.layout.setColumnStretchFactor(0, 3)
        self.plots.ci.layout.setColumnStretchFactor(1, 2)
        self._paths = [
            self.surface_plot.plot(pen=pg.mkPen(colour(i), width=2), symbol="o", symbolSize=3, name=choice.label)
            for i, choice in enumerate(self._choices)
        ]
        for path, i in zip(self._paths, range(len(self._choices)), strict=True):
            path.setSymbolBrush(colour(i))
            path.setSymbolPen(None)
        self._loss_curves = [self.loss_plot.plot(pen=pg.mkPen(colour(i), width=2)) for i in range(len(self._choices))]
        self._step_timer = QTimer(self)
        self._step_timer.setInterval(TICK_MS)
        self._step_timer.timeout.connect(self.step_live)

        self.surface_combo.currentIndexChanged.connect(self._on_surface_changed)
        self.lr_slider.value_changed.connect(self.schedule_update)
        self.steps_slider.value_changed.connect(self._on_steps_changed)
        self.optimizer_list.itemChanged.connect(self.schedule_update)
        self.optimizer_list.currentRowChanged.connect(self._on_optimizer_selected)
        self.options_form.values_changed.connect(self._on_options_changed)
        self.optimizer_list.setCurrentRow(CLASSIC_COUNT - 1)  # Adam
        self._on_surface_changed()

    # -- what the tests and the tab read --
    def surface(self) -> learn.Surface:
        return learn.SURFACES[self.surface_combo.currentData()]

    def selected_choice(self) -> learn.OptimizerChoice:
        return self._choices[max(0, self.optimizer_list.currentRow())]

    def runs(self) -> list[learn.OptimizerRun]:
        return [run for run in self._runs if run is not None]

    def is_stepping(self) -> bool:
        return self._step_timer.isActive()

    def finish(self) -> None:
        """Step every run to the end at once (for tests and screenshots)."""
        while self.is_stepping():
            self.step_live()

    def hideEvent(self, event: QHideEvent) -> None:
        """Another page or tab is shown: stop stepping until this page is back."""
        self._paused = self._step_timer.isActive()
        self._step_timer.stop()
        super().hideEvent(event)

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if self._paused:
            self._paused = False
            self._step_timer.start()

    # -- drawing --
    def redraw(self) -> None:
        """Start every ticked optimizer again from the start; the timer steps them live."""
        if self.table.item(0, 1) is None:
            self._fill_first_steps()
        surface, lr = self.surface(), self.lr_slider.value()
        self.loss_plot.setLogMode(y=surface.minimum is not None)
        self.loss_plot.setLabel("left", "f(w), log scale" if surface.minimum is not None else "f(w)")
        self._runs, problems = [], []
        for i, choice in enumerate(self._choices):
            run = None
            if self._is_checked(i):
                try:
                    run = learn.OptimizerRun(surface, choice, lr)
                except ValueError as error:  # torch refuses the options, e.g. Nesterov without momentum
                    problems.append(f"{choice.label}: {error}")
            self._runs.append(run)
        self._problems = problems
        for path, loss in zip(self._paths, self._loss_curves, strict=True):
            path.setData([], [])
            loss.setData([], [])
        self._step_timer.start()
        self.step_live()

    @Slot()
    def step_live(self) -> None:
        """Take a few steps of every unfinished run, within the time budget, and draw them."""
        started = time.perf_counter()
        target = int(self.steps_slider.value())
        busy = [(i, run) for i, run in enumerate(self._runs) if run is not None]
        while time.perf_counter() - started < TICK_BUDGET_S:
            pending = [(i, run) for i, run in busy if not run.diverged and len(run.losses) < target]
            if not pending:
                break
            for _i, run in pending:
                run.step(min(STEPS_PER_CHUNK, target - len(run.losses)))
        for i, run in busy:
            points = np.asarray(run.points)
            self._paths[i].setData(points[:, 0], points[:, 1])
            self._loss_curves[i].setData(np.arange(len(run.losses)), _loggable(run.losses, self.surface()))
        unfinished = [run for _i, run in busy if not run.diverged and len(run.losses) < target]
        if not unfinished:
            self._step_timer.stop()
            self._describe(busy)
        self.slowest_tick_ms = max(self.slowest_tick_ms, (time.perf_counter() - started) * 1000)

    def _describe(self, runs: list[tuple[int, learn.OptimizerRun]]) -> None:
        words = []
        for _i, run in runs:
            if run.diverged:
                words.append(f"{run.choice.label}: diverged after {len(run.losses)} steps")
            else:
                x, y = run.points[-1]
                words.append(f"{run.choice.label}: ({x:.3f}, {y:.3f}), f = {run.losses[-1]:.3g}")
        text = "After the last step: " + "; ".join(words) if words else "Tick an optimizer."
        self.status_label.setText("\n".join([text, *self._problems]))

    def _draw_surface(self) -> None:
        surface = self.surface()
        x, y, z = surface.grid()
        shown = np.log1p(z - z.min())  # a log scale shows the floor of a valley as well as its walls
        self.surface_image.setImage(shown, levels=(0, float(shown.max())))
        self.surface_image.setColorMap(pg.ColorMap([0, 1], [(250, 250, 255), (120, 140, 200)]))
        (x0, x1), (y0, y1) = surface.x_range, surface.y_range
        self.surface_image.setRect(QRectF(x0, y0, x1 - x0, y1 - y0))
        self.surface_plot.setXRange(x0, x1, padding=0)
        self.surface_plot.setYRange(y0, y1, padding=0)
        self.surface_plot.setTitle(f"{surface.label}: {surface.formula}")
        if surface.minimum is None:
            self.minimum_marker.setData([], [])
        else:
            self.minimum_marker.setData([surface.minimum[0]], [surface.minimum[1]])

    def _fill_first_steps(self) -> None:
        for row, choice in enumerate(learn.FIRST_STEP_CHOICES):
            self.table.setItem(row, 0, QTableWidgetItem(choice.label))
            for column, value in enumerate(learn.first_steps(choice), start=1):
                item = QTableWidgetItem(f"{value:.6f}")
                item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.table.setItem(row, column, item)
        self.table.resizeColumnsToContents()
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)

    def _is_checked(self, row: int) -> bool:
        return self.optimizer_list.item(row).checkState() == Qt.CheckState.Checked

    # -- slots --
    @Slot()
    def _on_surface_changed(self) -> None:
        self._draw_surface()
        self.lr_slider.set_value(self.surface().suggested_lr)
        self.schedule_update()

    @Slot(float)
    def _on_steps_changed(self, _steps: float) -> None:
        if self.runs() and all(len(run.losses) <= self.steps_slider.value() for run in self.runs()):
            self._step_timer.start()  # more steps: carry on from where the runs are
        else:
            self.schedule_update()

    @Slot(int)
    def _on_optimizer_selected(self, row: int) -> None:
        if row >= 0:
            choice = self._choices[row]
            self.options_form.set_params(OPTIMIZERS[choice.optimizer], choice.options)

    @Slot(object)
    def _on_options_changed(self, values: dict) -> None:
        row = self.optimizer_list.currentRow()
        self._choices[row] = replace(self._choices[row], options=values)
        self.schedule_update()

    @Slot()
    def _on_send_clicked(self) -> None:
        self.optimizer_chosen.emit(self.selected_choice())


def _loggable(losses: list[float], surface: learn.Surface) -> np.ndarray:
    """Losses for the loss plot: on a log axis where the surface has a minimum (a saddle has none, and goes below 0)."""
    values = np.asarray(losses, dtype=float)
    return values if surface.minimum is None else np.maximum(values, 1e-16)  # an exact 0 has no logarithm
