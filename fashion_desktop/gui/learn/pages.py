"""The Learn tab's lighter experiments: activations, losses, the weighted average, schedules, batches."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Slot
from PySide6.QtWidgets import QCheckBox, QComboBox, QLabel, QListWidget, QListWidgetItem, QSpinBox, QWidget

from fashion_desktop.core import learn
from fashion_desktop.core.config import SCHEDULERS
from fashion_desktop.core.errors import ConfigError
from fashion_desktop.core.params import Value
from fashion_desktop.core.spec import LAYER_TYPES
from fashion_desktop.gui.forms import OptionsForm
from fashion_desktop.gui.learn.page import ExperimentPage, ValueSlider, colour, linear_values, log_values
from fashion_desktop.gui.plots.style import faint

VANISHING_BRUSH = (214, 39, 40, 40)  # a light red over the x where the derivative vanishes


class ActivationsPage(ExperimentPage):
    title = "Activation functions"
    explanation = (
        "Each activation of the Builder's palette (blue) with its derivative (orange), which scales the gradient "
        "that passes back through it.\nWhere the derivative is near zero (shaded) a unit learns almost nothing: "
        "a sigmoid that saturates, a ReLU whose input stays negative (a dead ReLU)."
    )
    formula = (
        "σ(x) = 1 / (1 + e⁻ˣ),  σ′(x) = σ(x)(1 − σ(x)) ≤ 1/4;   ReLU(x) = max(0, x),  ReLU′(x) = 1 for x > 0, else 0"
    )

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.kind_combo = QComboBox()
        self.kind_combo.addItems(learn.activation_kinds())
        self.kind_combo.currentTextChanged.connect(self._on_kind_changed)
        self.add_row("activation", self.kind_combo)
        self.options_form = OptionsForm()
        self.options_form.values_changed.connect(self.schedule_update)
        self.controls.addRow(self.options_form)
        self.plot = self.add_plot("", "x")
        self.plot.setXRange(-6, 6, padding=0.02)
        self.function_curve = self.plot.plot(pen=pg.mkPen(colour(0), width=2), name="f(x)")
        self.slope_curve = self.plot.plot(pen=pg.mkPen(colour(1), width=2, style=Qt.PenStyle.DashLine), name="f′(x)")
        self._regions: list[pg.LinearRegionItem] = []
        self._on_kind_changed(self.kind_combo.currentText())

    @Slot(str)
    def _on_kind_changed(self, kind: str) -> None:
        self.options_form.set_params(LAYER_TYPES[kind].params)
        self.schedule_update()

    def redraw(self) -> None:
        kind = self.kind_combo.currentText()
        curve = learn.activation_curve(kind, self.options_form.values())
        self.function_curve.setData(curve.x, curve.y)
        self.slope_curve.setData(curve.x, curve.slope)
        self.plot.setTitle(f"{kind} and its derivative")
        for region in self._regions:
            self.plot.removeItem(region)
        self._regions = []
        for start, end in curve.vanishing:
            region = pg.LinearRegionItem((start, end), movable=False, brush=pg.mkBrush(*VANISHING_BRUSH))
            region.setZValue(-10)
            for line in region.lines:
                line.setPen(pg.mkPen(None))
            self.plot.addItem(region)
            self._regions.append(region)
        # round() + 0.0 turns a -0.0 into 0.0
        where = ", ".join(f"{round(a, 1) + 0.0:.1f} to {round(b, 1) + 0.0:.1f}" for a, b in curve.vanishing)
        where = where or "nowhere on [−6, 6]"
        self.status_label.setText(f"|f′(x)| < {learn.VANISHING_SLOPE:g} (shaded): {where}.")


class LossesPage(ExperimentPage):
    title = "Loss functions"
    explanation = (
        "Left: one 10-class sample, against the probability p given to its true class (the other classes share "
        "1 − p); the gradient is with respect to the true class's logit.\nCross-entropy's gradient stays large "
        "while the model is wrong; MSE on softmax outputs fades as p → 0. Right: regression losses of a prediction."
    )
    formula = (
        "CE = −log p;   L1 = |ŷ − y|;   L2 = (ŷ − y)²;   Smooth L1 = (ŷ − y)² / 2β if |ŷ − y| < β, else |ŷ − y| − β/2"
    )

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.p_slider = self.add_row("p (true class)", ValueSlider(linear_values(0.01, 0.99, 0.01), 0.1))
        self.target_slider = self.add_row("regression target y", ValueSlider(linear_values(-2, 2, 0.1), 0.0, 1))
        self.beta_slider = self.add_row("Smooth L1 β", ValueSlider(linear_values(0.1, 3, 0.1), 1.0, 1))
        for slider in (self.p_slider, self.target_slider, self.beta_slider):
            slider.value_changed.connect(self.schedule_update)
        self.values_label = QLabel()
        self.values_label.setWordWrap(True)
        self.controls_column.addWidget(self.values_label)
        self.controls_column.addStretch(1)
        self.class_loss = self.add_plot("Classification loss", "p of the true class", row=0, col=0)
        self.class_grad = self.add_plot(
            "Gradient (d loss / d logit)", "p of the true class", row=1, col=0, legend=False
        )
        self.reg_loss = self.add_plot("Regression loss", "prediction ŷ", row=0, col=1)
        self.reg_grad = self.add_plot("Gradient (d loss / d ŷ)", "prediction ŷ", row=1, col=1, legend=False)
        self.class_loss.setYRange(0, 5)
        self.class_curves = {}
        for i, (name, label) in enumerate(learn.CLASSIFICATION_LOSSES.items()):
            pen = pg.mkPen(colour(i), width=2)
            self.class_curves[name] = (self.class_loss.plot(pen=pen, name=label), self.class_grad.plot(pen=pen))
        self.reg_curves = {}
        for i, (name, label) in enumerate(learn.REGRESSION_LOSSES.items(), start=3):
            pen = pg.mkPen(colour(i), width=2)
            self.reg_curves[name] = (self.reg_loss.plot(pen=pen, name=label), self.reg_grad.plot(pen=pen))
        self.p_lines = [pg.InfiniteLine(angle=90, pen=pg.mkPen(faint(colour(7)))) for _ in range(2)]
        for plot, line in zip((self.class_loss, self.class_grad), self.p_lines, strict=True):
            plot.addItem(line)
        self._classification: list[learn.LossCurve] = []

    def redraw(self) -> None:
        if not self._classification:  # these depend on no setting: computed once
            self._classification = learn.classification_loss_curves()
            for curve in self._classification:
                loss_item, grad_item = self.class_curves[curve.name]
                loss_item.setData(curve.x, curve.loss)
                grad_item.setData(curve.x, curve.gradient)
        p = self.p_slider.value()
        for line in self.p_lines:
            line.setValue(p)
        for curve in learn.regression_loss_curves(self.target_slider.value(), self.beta_slider.value()):
            loss_item, grad_item = self.reg_curves[curve.name]
            loss_item.setData(curve.x, curve.loss)
            grad_item.setData(curve.x, curve.gradient)
        rows = []
        for curve in self._classification:
            i = int(np.argmin(np.abs(np.asarray(curve.x) - p)))
            rows.append(f"{curve.label}: loss {curve.loss[i]:.3f}, gradient {curve.gradient[i]:+.3f}")
        self.values_label.setText(f"At p = {p:.2f}:\n" + "\n".join(rows))


class AveragePage(ExperimentPage):
    title = "Exponentially weighted average"
    explanation = (
        "Thirty days of noisy temperatures and their running average: a larger β averages over more days "
        "(about 1 / (1 − β)), so the curve is flatter and lags.\nS starts at 0, so the first days are too low; "
        "dividing by 1 − βᵗ (bias correction, as Adam does) fixes that."
    )
    formula = "S_t = β · S_(t−1) + (1 − β) · Y_t,  S_0 = 0;   corrected: S_t / (1 − βᵗ)"
    needs_core = False

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.beta_slider = self.add_row("β", ValueSlider(linear_values(0, 0.99, 0.01), 0.9))
        self.seed_spin = self.add_row("noise seed", QSpinBox())
        self.seed_spin.setRange(0, 9999)
        self.plain_check = self.add_row("", QCheckBox("without bias correction"))
        self.corrected_check = self.add_row("", QCheckBox("with bias correction"))
        for check in (self.plain_check, self.corrected_check):
            check.setChecked(True)
            check.toggled.connect(self.schedule_update)
        self.beta_slider.value_changed.connect(self.schedule_update)
        self.seed_spin.valueChanged.connect(self.schedule_update)
        self.controls_column.addStretch(1)
        self.plot = self.add_plot("Daily temperature", "day", "°C")
        self.days = self.plot.plot(
            pen=None, symbol="o", symbolSize=6, symbolBrush=colour(7), symbolPen=None, name="temperature Y_t"
        )
        self.plain_curve = self.plot.plot(pen=pg.mkPen(colour(0), width=2), name="EWMA")
        self.corrected_curve = self.plot.plot(pen=pg.mkPen(colour(3), width=2), name="EWMA, bias-corrected")

    def redraw(self) -> None:
        temperatures = learn.noisy_temperatures(seed=self.seed_spin.value())
        beta = self.beta_slider.value()
        days = list(range(1, len(temperatures) + 1))
        self.days.setData(days, temperatures)
        plain = learn.ewma(temperatures, beta)
        corrected = learn.ewma(temperatures, beta, bias_correction=True)
        for curve, values, check in (
            (self.plain_curve, plain, self.plain_check),
            (self.corrected_curve, corrected, self.corrected_check),
        ):
            curve.setData(days if check.isChecked() else [], values if check.isChecked() else [])
        self.status_label.setText(
            f"β = {beta:.2f} averages about {1 / (1 - beta):.0f} days. Day 1: Y = {temperatures[0]:.1f} °C, "
            f"S = {plain[0]:.2f} without correction, {corrected[0]:.2f} with it; day 30: {plain[-1]:.2f} and "
            f"{corrected[-1]:.2f}."
        )


# The schedules of the classic tutorials, over 200 epochs; the others keep the registry's defaults.
SCHEDULE_DEFAULTS: dict[str, dict[str, Value]] = {
    "StepLR": {"step_size": 50, "gamma": 0.5},
    "MultiStepLR": {"milestones": (50, 125, 160), "gamma": 0.5},
    "ExponentialLR": {"gamma": 0.95},
}


class SchedulesPage(ExperimentPage):
    title = "Learning-rate schedules"
    explanation = (
        "Every scheduler the Training tab offers, as the real torch.optim.lr_scheduler class sets the rate "
        "each epoch (tick several to compare).\nSelect one to edit its options; ReduceLROnPlateau waits for the "
        "validation loss to stop improving, so with no training it stays flat."
    )
    formula = (
        "StepLR: η·γ^⌊e/s⌋;   MultiStepLR: η·γ^(milestones passed);   ExponentialLR: η·γᵉ;"
        "   cosine: η_min + (η − η_min)(1 + cos(πe/E))/2"
    )

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.epochs_slider = self.add_row("epochs", ValueSlider(linear_values(10, 500, 10), 200, 0))
        self.lr_slider = self.add_row("initial rate η", ValueSlider(log_values(1e-4, 1.0), 0.1, -1))
        self.log_check = self.add_row("", QCheckBox("logarithmic rate axis"))
        self.scheduler_list = QListWidget()
        self._options: dict[str, Mapping[str, Value]] = {}
        for name in learn.scheduler_names():
            item = QListWidgetItem(name)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Checked if name in SCHEDULE_DEFAULTS else Qt.CheckState.Unchecked)
            self.scheduler_list.addItem(item)
            self._options[name] = dict(SCHEDULE_DEFAULTS.get(name, {}))
        self.scheduler_list.setMaximumHeight(130)
        self.add_row("schedulers", self.scheduler_list)
        self.options_form = OptionsForm()
        self.controls.addRow(self.options_form)
        self.controls_column.addStretch(1)
        self.plot = self.add_plot("Learning rate per epoch", "epoch", "learning rate")
        self.plot.getAxis("left").enableAutoSIPrefix(False)  # rates read as 0.05, not 50 x 0.001
        self._curves: dict[str, pg.PlotDataItem] = {
            name: self.plot.plot(pen=pg.mkPen(colour(i), width=2), name=name)
            for i, name in enumerate(learn.scheduler_names())
        }
        self.epochs_slider.value_changed.connect(self.schedule_update)
        self.lr_slider.value_changed.connect(self.schedule_update)
        self.log_check.toggled.connect(self._on_log_toggled)
        self.scheduler_list.itemChanged.connect(self.schedule_update)
        self.scheduler_list.currentTextChanged.connect(self._on_scheduler_selected)
        self.options_form.values_changed.connect(self._on_options_changed)
        self.scheduler_list.setCurrentRow(0)

    def options(self, name: str) -> Mapping[str, Value]:
        return self._options[name]

    def checked(self) -> list[str]:
        items = (self.scheduler_list.item(i) for i in range(self.scheduler_list.count()))
        return [item.text() for item in items if item.checkState() == Qt.CheckState.Checked]

    @Slot(str)
    def _on_scheduler_selected(self, name: str) -> None:
        if name:
            self.options_form.set_params(SCHEDULERS[name], self._options[name])

    @Slot(object)
    def _on_options_changed(self, values: dict) -> None:
        name = self.scheduler_list.currentItem().text()
        self._options[name] = values
        self.schedule_update()

    @Slot(bool)
    def _on_log_toggled(self, on: bool) -> None:
        self.plot.setLogMode(y=on)
        self.schedule_update()

    def redraw(self) -> None:
        epochs, lr = int(self.epochs_slider.value()), self.lr_slider.value()
        problems, finals = [], []
        checked = self.checked()
        for name, curve in self._curves.items():
            if name not in checked:
                curve.setData([], [])
                continue
            try:
                rates = learn.schedule(name, epochs, lr, self._options[name])
            except ConfigError as error:
                curve.setData([], [])
                problems.append(str(error).split("\n", 1)[-1])
                continue
            # Log axes cannot show 0 (cosine ends there): floor it at a millionth of the start.
            shown = np.maximum(rates, lr * 1e-6) if self.log_check.isChecked() else rates
            curve.setData(np.arange(1, epochs + 1), shown)
            finals.append(f"{name} {rates[-1]:.3g}")
        self.show_in_legend(self.plot, [(self._curves[name], name) for name in checked])
        text = f"Rate in epoch {epochs}: " + ", ".join(finals) if finals else "Tick a scheduler to plot it."
        self.status_label.setText("\n".join([text, *problems]))


BAR_LIMIT = 40  # iterations drawn one bar each; beyond this the full batches are drawn as one block, legibly


class BatchesPage(ExperimentPage):
    title = "Epochs, batches and iterations"
    explanation = (
        "One epoch passes every training sample through the network once, a batch at a time; each batch is one "
        "iteration (one optimizer step).\nWhen the batch size does not divide the samples, the last batch is "
        "smaller: 50,000 samples at 256 make 195 full batches and one of 80, 196 iterations."
    )
    formula = "iterations per epoch = ⌈samples / batch size⌉;   iterations = epochs × iterations per epoch"
    needs_core = False

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.samples_spin = self.add_row("training samples", QSpinBox())
        self.samples_spin.setRange(1, 10_000_000)
        self.samples_spin.setGroupSeparatorShown(True)
        self.samples_spin.setValue(50_000)
        self.batch_slider = self.add_row("batch size", ValueSlider([2**i for i in range(13)], 256, 0))
        self.batch_spin = self.add_row("", QSpinBox())
        self.batch_spin.setRange(1, 1_000_000)
        self.batch_spin.setValue(256)
        self.epochs_spin = self.add_row("epochs", QSpinBox())
        self.epochs_spin.setRange(1, 10_000)
        self.epochs_spin.setValue(10)
        self.summary_label = QLabel()
        self.summary_label.setWordWrap(True)
        self.controls_column.addWidget(self.summary_label)
        self.controls_column.addStretch(1)
        self.batch_slider.value_changed.connect(self._on_batch_slider_changed)
        for spin in (self.samples_spin, self.batch_spin, self.epochs_spin):
            spin.valueChanged.connect(self.schedule_update)
        self.plot = self.add_plot("Samples in each batch of one epoch", "iteration", "samples", legend=False)
        self.bars = pg.BarGraphItem(x0=[], height=[], width=[], brush=colour(0), pen=None)
        self.last_bar = pg.BarGraphItem(x0=[], height=[], width=[], brush=colour(1), pen=None)
        self.plot.addItem(self.bars)
        self.plot.addItem(self.last_bar)
        self.last_label = pg.TextItem(anchor=(1, 1), color=colour(1))  # the last batch can be a sliver: name it
        self.plot.addItem(self.last_label)

    @Slot(float)
    def _on_batch_slider_changed(self, value: float) -> None:
        self.batch_spin.setValue(int(value))  # schedules the update

    def redraw(self) -> None:
        plan = learn.batch_plan(self.samples_spin.value(), self.batch_spin.value(), self.epochs_spin.value())
        if plan.full_batches <= BAR_LIMIT:
            starts = np.arange(plan.full_batches) + 0.1
            self.bars.setOpts(x0=starts, height=[plan.batch_size] * plan.full_batches, width=0.8)
        else:
            self.bars.setOpts(x0=[0], height=[plan.batch_size], width=[plan.full_batches])
        if plan.last_batch:
            self.last_bar.setOpts(x0=[plan.full_batches], height=[plan.last_batch], width=1)
            self.last_label.setText(f"last batch: {plan.last_batch:,}")
            self.last_label.setPos(plan.full_batches + 1, plan.batch_size)  # above the bars, where it reads
        else:
            self.last_bar.setOpts(x0=[], height=[], width=[])
            self.last_label.setText("")
        self.plot.setXRange(0, plan.iterations_per_epoch, padding=0.02)
        self.plot.setYRange(0, plan.batch_size * 1.15, padding=0)
        last = f" and 1 of {plan.last_batch:,} (orange)" if plan.last_batch else " (no partial batch)"
        skip = (
            "\nThe app's training leaves out a last batch of one sample: BatchNorm cannot normalise a single value."
            if plan.app_skips_last
            else ""
        )
        self.summary_label.setText(
            f"{plan.full_batches:,} full batches of {plan.batch_size:,}{last}:\n"
            f"{plan.iterations_per_epoch:,} iterations per epoch,\n"
            f"{plan.iterations:,} iterations in {plan.epochs:,} epochs.{skip}"
        )
