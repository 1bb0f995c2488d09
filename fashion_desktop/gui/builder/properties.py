"""The layer properties panel: the selected layer's options, its initialisation, and an activation's curve."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import QComboBox, QFormLayout, QGroupBox, QLabel, QVBoxLayout, QWidget

from fashion_desktop.core.layers import LAYER_TYPES, LayerType
from fashion_desktop.core.params import Param, resolve
from fashion_desktop.core.spec import BIAS_INITS, INIT_SCHEMES, LayerSpec
from fashion_desktop.gui.forms import OptionsForm


class LayerProperties(QGroupBox):
    """Edits one layer: the forms of its options and weight initialisation, and the plot of an activation.

    Signals:
        layer_edited: (the layer as edited, what was edited); repeated edits of one ``what`` make one undo step.
    """

    layer_edited = Signal(object, str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Layer properties", parent)
        self._core_ready = False
        self._shown_layer: LayerSpec | None = None  # the layer whose options the panel holds
        self._plot = None  # pyqtgraph is imported only when the first activation is shown
        self.title = QLabel()
        self.title.setWordWrap(True)
        self.options_form = OptionsForm()
        self.options_form.values_changed.connect(self._on_options_form_values_changed)

        self.init_combo = QComboBox()
        self.init_combo.addItems(list(INIT_SCHEMES))
        self.init_combo.setToolTip("How the weights are initialised before training")
        self.init_combo.activated.connect(self._on_init_combo_activated)
        self.init_form = OptionsForm()
        self.init_form.values_changed.connect(self._on_init_form_values_changed)
        self.bias_combo = QComboBox()
        self.bias_combo.addItems(list(BIAS_INITS))
        self.bias_combo.activated.connect(self._on_bias_combo_activated)
        self.init_section = QWidget()
        init_layout = QFormLayout(self.init_section)
        init_layout.setContentsMargins(0, 0, 0, 0)
        init_layout.addRow("weight init", self.init_combo)
        init_layout.addRow(self.init_form)
        init_layout.addRow("bias init", self.bias_combo)

        self.activation_box = QWidget()  # holds the activation plot, created on first use
        QVBoxLayout(self.activation_box).setContentsMargins(0, 4, 0, 0)
        self.activation_box.hide()

        layout = QVBoxLayout(self)
        layout.addWidget(self.title)
        layout.addWidget(self.options_form)
        layout.addWidget(self.init_section)
        layout.addWidget(self.activation_box, 1)
        layout.addStretch(0)

    def show_layer(self, layer: LayerSpec | None, name: str) -> None:
        """Fill the panel for ``layer`` (module ``name``) or none; a panel already showing it is left alone."""
        layer_type = LAYER_TYPES.get(layer.kind) if layer is not None else None
        self.title.setText(_title(name, layer, layer_type))
        if layer == self._shown_layer:
            return  # rebuilding the form would take the editor away from the user typing in it
        self._shown_layer = layer
        params = layer_type.params if layer_type else ()
        self.options_form.set_params(params, _typed_values(params, layer.params) if layer else {})
        self.options_form.setVisible(bool(params))
        has_weights = bool(layer_type and layer_type.has_weights and layer.init in INIT_SCHEMES)
        self.init_section.setVisible(has_weights)
        if has_weights:
            init_params = INIT_SCHEMES[layer.init]
            self.init_combo.setCurrentText(layer.init)
            self.init_form.set_params(init_params, _typed_values(init_params, layer.init_params))
            self.init_form.setVisible(bool(init_params))
            self.bias_combo.setCurrentText(layer.bias_init)
        self._align_form_labels()
        self._show_activation(layer)

    def set_editing(self, editing: bool) -> None:
        """Allow the forms, or refuse them while the network cannot be edited."""
        for widget in (self.options_form, self.init_section):
            widget.setEnabled(editing)

    def on_core_ready(self) -> None:
        """PyTorch has loaded: an activation's plot can now be drawn."""
        self._core_ready = True
        self._show_activation(self._shown_layer)

    def colour_plot(self) -> None:
        """The activation plot in the palette's colours (it stayed white on a dark palette), once it is drawn."""
        if self._plot is None:
            return
        from fashion_desktop.gui.plots.style import background_color, text_color

        self._plot.setBackground(background_color())
        for name in ("left", "bottom"):
            axis = self._plot.getAxis(name)
            axis.setPen(text_color())
            axis.setTextPen(text_color())
        legend = self._plot.getPlotItem().legend
        if legend is not None:
            legend.setLabelTextColor(text_color())

    def _align_form_labels(self) -> None:
        """Give the stacked forms' label columns one width, so that all their editors line up."""
        layouts = [form.layout() for form in (self.options_form, self.init_section, self.init_form)]
        labels = [
            item.widget()
            for layout in layouts
            for row in range(layout.rowCount())
            if (item := layout.itemAt(row, QFormLayout.ItemRole.LabelRole)) is not None
        ]
        width = max((label.sizeHint().width() for label in labels), default=0)
        for label in labels:
            label.setMinimumWidth(width)

    def _show_activation(self, layer: LayerSpec | None) -> None:
        """Plot an activation function and its derivative, once PyTorch has loaded."""
        shown = self._core_ready and layer is not None and layer.kind in LAYER_TYPES and layer.type.is_activation
        self.activation_box.setVisible(shown)
        if not shown:
            return
        from fashion_desktop.core.builder import activation_curve

        if self._plot is None:
            self._create_plot()
        x, y, slope = activation_curve(layer.kind, resolve(layer.type.params, layer.params)[0])
        self._function_curve.setData(x, y)
        self._derivative_curve.setData(x, slope)
        from fashion_desktop.gui.plots.style import text_color

        self._plot.setTitle(f"{layer.kind} and its derivative", size="9pt", color=text_color())

    def _create_plot(self) -> None:
        import pyqtgraph as pg

        self._plot = pg.PlotWidget()
        self.colour_plot()
        self._plot.setMinimumHeight(150)
        self._plot.showGrid(x=True, y=True, alpha=0.3)
        self._plot.addLegend(offset=(8, 8))
        self._plot.setMouseEnabled(x=False, y=False)
        self._plot.hideButtons()
        self._function_curve = self._plot.plot(pen=pg.mkPen("#2563eb", width=2), name="f(x)")
        self._derivative_curve = self._plot.plot(
            pen=pg.mkPen("#ea580c", width=2, style=Qt.PenStyle.DashLine), name="f'(x)"
        )
        self.activation_box.layout().addWidget(self._plot)

    # -- the forms' edits, as the layer they make --
    @Slot(object)
    def _on_options_form_values_changed(self, values: dict) -> None:
        layer = self._shown_layer
        if layer is None:
            return
        current = _typed_values(layer.type.params, layer.params)
        changed = ", ".join(sorted(name for name, value in values.items() if current[name] != value))
        new = replace(layer, params={**layer.params, **values})
        self._shown_layer = new  # the form already shows these values
        self.layer_edited.emit(new, changed or "options")

    @Slot(int)
    def _on_init_combo_activated(self, _index: int) -> None:
        if self._shown_layer is not None:
            new = replace(self._shown_layer, init=self.init_combo.currentText(), init_params={})
            self.layer_edited.emit(new, "weight init")

    @Slot(object)
    def _on_init_form_values_changed(self, values: dict) -> None:
        if self._shown_layer is not None:
            self._shown_layer = replace(self._shown_layer, init_params=values)
            self.layer_edited.emit(self._shown_layer, "weight init options")

    @Slot(int)
    def _on_bias_combo_activated(self, _index: int) -> None:
        if self._shown_layer is not None:
            self.layer_edited.emit(replace(self._shown_layer, bias_init=self.bias_combo.currentText()), "bias init")


def _title(name: str, layer: LayerSpec | None, layer_type: LayerType | None) -> str:
    if layer is None:
        return "Select a layer to see its options."
    if layer_type is None:
        description = "An unknown layer type: remove it."
    elif layer_type.params or layer_type.is_activation:  # the form or the plot says the rest
        description = layer_type.description
    else:
        description = layer_type.description + (". " if layer_type.description else "") + "No options to set."
    title = f"<b>{name}</b> · {layer.kind}"
    return title + (f"<br><small>{description}</small>" if description else "")


def _typed_values(params: Sequence[Param], values: Mapping[str, object]) -> dict[str, object]:
    """Every option's value as the spec holds it, an invalid one too: showing the default instead hid the error."""
    return {param.name: values.get(param.name, param.default) for param in params}
