"""A form generated from Param schemas: the one editor for layer, initialisation, optimizer and scheduler options."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from PySide6.QtCore import Signal, Slot
from PySide6.QtWidgets import QCheckBox, QComboBox, QDoubleSpinBox, QFormLayout, QLineEdit, QSpinBox, QWidget

from fashion_desktop.core.params import Param, Value

INVALID_STYLE = "border: 1px solid #d9534f;"
# The GUI's own way to choose the data folder, added to the core's data messages (which name no flag or button).
DATA_FOLDER_HINT = "Use Browse... on the Training tab to choose the folder that holds Fashion-MNIST."


class OptionsForm(QWidget):
    """One row per Param. ``values_changed`` carries a dict of the current (valid) values."""

    values_changed = Signal(object)

    def __init__(
        self, params: Sequence[Param] = (), values: Mapping[str, Value] | None = None, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self._layout = QFormLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._editors: dict[str, tuple[Param, QWidget]] = {}
        self.set_params(params, values)

    def set_params(self, params: Sequence[Param], values: Mapping[str, Value] | None = None) -> None:
        """Rebuild the rows for another schema (another layer or optimizer)."""
        while self._layout.rowCount():
            self._layout.removeRow(0)
        self._editors = {}
        values = values or {}
        for param in params:
            editor = self._editor(param, values.get(param.name, param.default))
            editor.setObjectName(f"option_{param.name}")
            if param.help:
                editor.setToolTip(param.help)
            self._layout.addRow(param.name.replace("_", " "), editor)
            self._editors[param.name] = (param, editor)

    def values(self) -> dict[str, Value]:
        """The values of the rows that hold a valid value."""
        result = {}
        for name, (param, editor) in self._editors.items():
            raw = _read(editor)
            if param.problem(raw) is None:
                result[name] = param.coerce(raw)
        return result

    def problems(self) -> list[str]:
        return [p for param, editor in self._editors.values() if (p := param.problem(_read(editor)))]

    def editor(self, name: str) -> QWidget:
        return self._editors[name][1]

    def _editor(self, param: Param, value: Value) -> QWidget:
        editor: QWidget
        if param.kind == "bool":
            editor = QCheckBox()
            editor.setChecked(bool(value))
            editor.toggled.connect(self._on_edited)
        elif param.kind == "choice":
            editor = QComboBox()
            editor.addItems(list(param.choices))
            editor.setCurrentText(str(value))
            editor.currentTextChanged.connect(self._on_edited)
        elif param.kind == "int":
            editor = QSpinBox()
            editor.setRange(
                int(param.minimum if param.minimum is not None else -(2**31)),
                int(param.maximum if param.maximum is not None else 2**31 - 1),
            )
            editor.setValue(int(value))  # type: ignore[arg-type]
            editor.valueChanged.connect(self._on_edited)
        elif param.kind == "float" and not param.log_scale:
            editor = QDoubleSpinBox()
            editor.setDecimals(4)
            editor.setSingleStep(0.05 if (param.maximum or 10) <= 1 else 0.1)
            editor.setRange(
                param.minimum if param.minimum is not None else -1e9,
                param.maximum if param.maximum is not None else 1e9,
            )
            editor.setValue(float(value))  # type: ignore[arg-type]
            editor.valueChanged.connect(self._on_edited)
        else:  # tiny floats (eps, min_lr) and lists: free text, checked as typed
            text = (
                ", ".join(map(str, value))
                if isinstance(value, tuple)
                else f"{value:g}"
                if isinstance(value, float)
                else str(value)
            )
            editor = QLineEdit(text)
            editor.textChanged.connect(self._on_edited)
        return editor

    @Slot()
    def _on_edited(self) -> None:
        for param, editor in self._editors.values():
            problem = param.problem(_read(editor))
            editor.setStyleSheet(INVALID_STYLE if problem else "")
            editor.setToolTip(problem or param.help)
        self.values_changed.emit(self.values())


def _read(editor: QWidget) -> Any:
    if isinstance(editor, QCheckBox):
        return editor.isChecked()
    if isinstance(editor, QComboBox):
        return editor.currentText()
    if isinstance(editor, (QSpinBox, QDoubleSpinBox)):
        return editor.value()
    return editor.text()  # type: ignore[attr-defined]
