"""The initialisation experiment: a stack of layers fed random inputs, their activations' and gradients' spread."""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Signal, Slot
from PySide6.QtWidgets import QComboBox, QPushButton, QWidget

from fashion_desktop.core import learn
from fashion_desktop.core.params import Value
from fashion_desktop.core.spec import INIT_SCHEMES
from fashion_desktop.gui.forms import OptionsForm
from fashion_desktop.gui.learn.page import ExperimentPage, ValueSlider, colour

# (label, activation, init, init options): the four classic outcomes, one click each.
CLASSIC_SETUPS = (
    ("Kaiming + ReLU: keeps", "ReLU", "kaiming_normal", {}),
    ("Xavier + Tanh: keeps", "Tanh", "xavier_normal", {}),
    ("normal(0, 1) + ReLU: explodes", "ReLU", "normal", {"std": 1.0}),
    ("normal(0, 1) + Sigmoid: vanishes", "Sigmoid", "normal", {"std": 1.0}),
    ("zeros + ReLU: stalls", "ReLU", "zeros", {}),
)
HISTOGRAM_LAYERS = 4  # the histograms show the first, the last and evenly spaced layers between
# The random inputs per update: 512 give steady spreads; big stacks get fewer (64 for 30 layers of 256 units, the
# largest), since the work grows with layers x width² x inputs and an update must stay well under 100 ms.
MAX_BATCH, MIN_BATCH = 512, 64
WORK = MIN_BATCH * 30 * 256**2


class InitialisationPage(ExperimentPage):
    """The weight initialisation experiment.

    Signals:
        init_chosen: (scheme, options) to initialise the Builder's network with.
    """

    init_chosen = Signal(str, object)
    title = "Weight initialisation"
    explanation = (
        "A stack of Linear layers with the activation and initialisation chosen, fed a batch of random inputs: the "
        "spread (std) of each layer's outputs, and of its weights' gradients for a unit-scale loss gradient.\n"
        "A good initialisation keeps both level from layer to layer; a bad one makes them explode, vanish or "
        "stall (zeros: every unit the same). Wider layers make larger sums, so outcomes depend on the width too."
    )
    formula = (
        "Xavier: Var(w) = 2 / (fan_in + fan_out);   Kaiming (ReLU): Var(w) = 2 / fan_in;   h_l = f(W_l h_(l−1) + b_l)"
    )

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setup_combo = QComboBox()
        self.setup_combo.addItem("(choose a classic set-up)")
        for label, *_ in CLASSIC_SETUPS:
            self.setup_combo.addItem(label)
        self.setup_combo.activated.connect(self._on_setup_activated)
        self.add_row("set-up", self.setup_combo)
        self.layers_slider = self.add_row("layers", ValueSlider(range(1, 31), 10, 0))
        self.width_slider = self.add_row("width", ValueSlider([2**i for i in range(2, 9)], 32, 0))
        self.activation_combo = self.add_row("activation", QComboBox())
        self.activation_combo.addItems(learn.activation_kinds())
        self.init_combo = self.add_row("weight init", QComboBox())
        self.init_combo.addItems(learn.init_schemes())
        self.init_form = OptionsForm()
        self.controls.addRow(self.init_form)
        self.send_button = QPushButton("Use this initialisation in the Builder")
        self.send_button.setToolTip("Initialise every Linear and Conv2d layer of the Builder's network this way")
        self.send_button.clicked.connect(self._on_send_clicked)
        self.controls_column.addWidget(self.send_button)
        self.controls_column.addStretch(1)

        self.std_plot = self.add_plot(
            "Standard deviation per layer", "layer", "std (log scale)", row=0, col=0, rowspan=2
        )
        self.std_plot.setLogMode(y=True)
        self.activation_std = self.std_plot.plot(
            pen=pg.mkPen(colour(0), width=2), symbol="o", symbolSize=6, symbolBrush=colour(0), name="activations"
        )
        self.gradient_std = self.std_plot.plot(
            pen=pg.mkPen(colour(1), width=2), symbol="s", symbolSize=6, symbolBrush=colour(1), name="weight gradients"
        )
        self.activation_hist = self.add_plot("Activations", "value", row=0, col=1)
        self.gradient_hist = self.add_plot("Weight gradients", "value", row=1, col=1)
        self._hist_curves = [
            (
                self.activation_hist.plot(stepMode="center", pen=pg.mkPen(colour(i + 2), width=2), name=""),
                self.gradient_hist.plot(stepMode="center", pen=pg.mkPen(colour(i + 2), width=2), name=""),
            )
            for i in range(HISTOGRAM_LAYERS)
        ]
        self.result: learn.InitExperiment | None = None

        for slider in (self.layers_slider, self.width_slider):
            slider.value_changed.connect(self.schedule_update)
        self.activation_combo.currentTextChanged.connect(self.schedule_update)
        self.init_combo.currentTextChanged.connect(self._on_init_changed)
        self.init_form.values_changed.connect(self.schedule_update)
        self.apply_setup("ReLU", "kaiming_normal", {})

    def apply_setup(self, activation: str, init: str, options: dict[str, Value]) -> None:
        self.activation_combo.setCurrentText(activation)
        self.init_combo.setCurrentText(init)
        self.init_form.set_params(INIT_SCHEMES[init], options)
        self.schedule_update()

    def init_options(self) -> dict[str, Value]:
        return self.init_form.values()

    @Slot(int)
    def _on_setup_activated(self, index: int) -> None:
        if index > 0:
            _label, activation, init, options = CLASSIC_SETUPS[index - 1]
            self.apply_setup(activation, init, dict(options))

    @Slot(str)
    def _on_init_changed(self, init: str) -> None:
        self.init_form.set_params(INIT_SCHEMES[init])
        self.schedule_update()

    @Slot()
    def _on_send_clicked(self) -> None:
        self.init_chosen.emit(self.init_combo.currentText(), self.init_options())

    def redraw(self) -> None:
        layers, width = int(self.layers_slider.value()), int(self.width_slider.value())
        picked = sorted({1 + round(i * (layers - 1) / (HISTOGRAM_LAYERS - 1)) for i in range(HISTOGRAM_LAYERS)})
        result = learn.init_experiment(
            layers,
            width,
            self.activation_combo.currentText(),
            self.init_combo.currentText(),
            self.init_options(),
            batch=int(np.clip(WORK // (layers * width**2), MIN_BATCH, MAX_BATCH)),
            histogram_layers=picked,
        )
        self.result = result
        stats = result.statistics
        numbers = [s.layer for s in stats]
        # A log axis cannot show 0 (zeros stall): floor the spread at a tiny value and say so in words.
        floor = 1e-12
        self.activation_std.setData(numbers, [max(s.activation_std, floor) for s in stats])
        self.gradient_std.setData(numbers, [max(s.gradient_std, floor) for s in stats])
        for slot, (activation_curve, gradient_curve) in enumerate(self._hist_curves):
            if slot < len(picked):
                layer = stats[picked[slot] - 1]
                for curve, histogram in ((activation_curve, layer.activations), (gradient_curve, layer.gradients)):
                    curve.setData(histogram.edges, _share(histogram.counts))
                    curve.opts["name"] = f"layer {layer.layer}"
            else:
                activation_curve.setData([], [])
                gradient_curve.setData([], [])
        self._relabel_legends()
        first, last = stats[0], stats[-1]
        self.status_label.setText(
            f"Activation std: layer 1 {first.activation_std:.3g}, layer {last.layer} {last.activation_std:.3g} "
            f"({_trend(first.activation_std, last.activation_std)}).\nWeight-gradient std, flowing back: layer "
            f"{last.layer} {last.gradient_std:.3g}, layer 1 {first.gradient_std:.3g} "
            f"({_trend(last.gradient_std, first.gradient_std)})."
        )

    def _relabel_legends(self) -> None:
        for plot, index in ((self.activation_hist, 0), (self.gradient_hist, 1)):
            shown = [curves[index] for curves in self._hist_curves if _has_data(curves[index])]
            self.show_in_legend(plot, [(curve, curve.opts["name"]) for curve in shown])


def _share(counts: list[int]) -> np.ndarray:
    """Counts as fractions of the values, so layers of any size compare."""
    total = sum(counts)
    return np.asarray(counts, dtype=float) / (total or 1)


TREND_FACTOR = 4  # a spread that grows or shrinks more than this from end to end explodes or vanishes


def _trend(first: float, last: float) -> str:
    if first == 0 and last == 0:
        return "stalled: every unit computes the same"
    if first == 0 or not math.isfinite(last) or last / first > TREND_FACTOR:
        return "exploding"
    if last / first < 1 / TREND_FACTOR:
        return "vanishing"
    return f"kept within a factor of {TREND_FACTOR}"


def _has_data(curve: pg.PlotDataItem) -> bool:
    return curve.xData is not None and len(curve.xData) > 0
