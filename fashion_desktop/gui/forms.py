"""A form generated from Param schemas: the one editor for layer, initialisation, optimizer and scheduler options."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from PySide6.QtCore import QSettings, Signal, Slot
from PySide6.QtGui import QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from fashion_desktop.core.params import Param, Value

# Spin boxes accept far more than any option allows: a box that clamps showed 1.0 while 1.5 was typed, and 128
# for the -5 a JSON file held. The option's own rules then say what is wrong, in words beside the box.
SPIN_LIMIT = 2**31 - 1
INVALID_STYLE = "border: 1px solid #d9534f;"  # for line edits only: on a spin box it squashes the arrows
# The GUI's own way to choose the data folder, added to the core's data messages (which name no flag or button).
DATA_FOLDER_HINT = "Use Browse... on the Training tab to choose the folder that holds Fashion-MNIST."


class OptionsForm(QWidget):
    """One row per Param, each value shown exactly as typed or loaded, with why it is not valid beneath it.

    ``values_changed`` carries ``typed_values()``: every row's value, valid ones coerced to their type and
    invalid ones as they are, so that the network's own checks report them rather than silently keep an older one.
    """

    values_changed = Signal(object)

    def __init__(
        self, params: Sequence[Param] = (), values: Mapping[str, Value] | None = None, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self._layout = QFormLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._editors: dict[str, tuple[Param, QWidget]] = {}
        self._reasons: dict[str, QLabel] = {}
        self.set_params(params, values)

    def set_params(self, params: Sequence[Param], values: Mapping[str, Value] | None = None) -> None:
        """Rebuild the rows for another schema (another layer or optimizer)."""
        while self._layout.rowCount():
            self._layout.removeRow(0)
        self._editors, self._reasons = {}, {}
        values = values or {}
        for param in params:
            editor = self._editor(param, values.get(param.name, param.default))
            editor.setObjectName(f"option_{param.name}")
            if param.help:
                editor.setToolTip(param.help)
            reason = QLabel()
            reason.setObjectName(f"problem_{param.name}")
            reason.setWordWrap(True)
            reason.hide()
            cell = QWidget()
            column = QVBoxLayout(cell)
            column.setContentsMargins(0, 0, 0, 0)
            column.setSpacing(1)
            column.addWidget(editor)
            column.addWidget(reason)
            self._layout.addRow(param.name.replace("_", " "), cell)
            self._editors[param.name] = (param, editor)
            self._reasons[param.name] = reason
        self._show_problems()

    def values(self) -> dict[str, Value]:
        """The values of the rows that hold a valid value."""
        result = {}
        for name, (param, editor) in self._editors.items():
            raw = _read(editor)
            if param.problem(raw) is None:
                result[name] = param.coerce(raw)
        return result

    def typed_values(self) -> dict[str, Value]:
        """Every row's value: coerced where it is valid, as typed where it is not."""
        result = {}
        for name, (param, editor) in self._editors.items():
            raw = _read(editor)
            result[name] = param.coerce(raw) if param.problem(raw) is None else raw
        return result

    def problems(self) -> list[str]:
        return [p for param, editor in self._editors.values() if (p := param.problem(_read(editor)))]

    def editor(self, name: str) -> QWidget:
        return self._editors[name][1]

    def problem_label(self, name: str) -> QLabel:
        """The words under an option that say why its value is not valid (hidden while it is)."""
        return self._reasons[name]

    def _editor(self, param: Param, value: Value) -> QWidget:
        editor: QWidget
        if param.kind == "bool":
            editor = QCheckBox()
            editor.setChecked(bool(value))
            editor.toggled.connect(self._on_edited)
        elif param.kind == "choice" and value in param.choices:
            editor = QComboBox()
            editor.addItems(list(param.choices))
            editor.setCurrentText(str(value))
            editor.currentTextChanged.connect(self._on_edited)
        elif param.kind == "int" and _is_whole(value):
            editor = QSpinBox()
            editor.setRange(-SPIN_LIMIT, SPIN_LIMIT)
            editor.setValue(int(value))  # type: ignore[arg-type]
            editor.valueChanged.connect(self._on_edited)
        elif param.kind == "float" and not param.log_scale and _is_number(value):
            editor = QDoubleSpinBox()
            editor.setDecimals(4)
            editor.setSingleStep(0.05 if (param.maximum or 10) <= 1 else 0.1)
            editor.setRange(-1e9, 1e9)
            editor.setValue(float(value))  # type: ignore[arg-type]
            editor.valueChanged.connect(self._on_edited)
        else:  # tiny floats (eps, min_lr), lists, and values of the wrong type: free text, checked as typed
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

    def _show_problems(self) -> None:
        for name, (param, editor) in self._editors.items():
            problem = param.problem(_read(editor))
            reason = self._reasons[name]
            # A tinted palette, not a style sheet: a style sheet border redraws spin boxes without room for arrows.
            editor.setPalette(invalid_palette(editor) if problem else QPalette())
            reason.setText(f"\u26a0 {_sentence(problem)}" if problem else "")
            reason.setStyleSheet(f"color: {error_text_colour().name()};")
            reason.setVisible(bool(problem))
            editor.setToolTip(problem or param.help)

    @Slot()
    def _on_edited(self) -> None:
        self._show_problems()
        self.values_changed.emit(self.typed_values())


def invalid_palette(widget: QWidget) -> QPalette:
    """The widget's palette with its input background tinted red, in a light or a dark theme alike."""
    palette = QPalette(widget.palette())
    base = palette.color(QPalette.ColorRole.Base)
    palette.setColor(QPalette.ColorRole.Base, blend(base, QColor(217, 83, 79), 0.3))
    return palette


def is_dark(palette: QPalette | None = None) -> bool:
    """Whether the (application's) palette draws light text on a dark ground."""
    palette = palette or QGuiApplication.palette()
    return (
        palette.color(QPalette.ColorRole.Window).lightness() < palette.color(QPalette.ColorRole.WindowText).lightness()
    )


def error_text_colour() -> QColor:
    """A red that reads on the palette's background: darker on a light theme, lighter on a dark one."""
    return QColor("#ff7b72") if is_dark() else QColor("#b02a37")


def blend(base: QColor, tint: QColor, amount: float) -> QColor:
    """``base`` moved ``amount`` (0..1) of the way towards ``tint``."""
    return QColor(*(round(b + (t - b) * amount) for b, t in zip(base.getRgb()[:3], tint.getRgb()[:3], strict=True)))


def remembered_folder(kind: str, fallback: str | Path = "") -> str:
    """The folder a file dialog for ``kind`` of file ("models", "images"...) last used, else ``fallback``."""
    folder = str(QSettings().value(f"folders/{kind}", "") or "")
    return folder if folder and Path(folder).is_dir() else str(fallback)


def remember_folder(kind: str, path: str | Path) -> None:
    """Keep the folder of ``path`` (or ``path`` itself, when it is a folder) for the next dialog for ``kind``."""
    path = Path(path)
    QSettings().setValue(f"folders/{kind}", str(path if path.is_dir() else path.parent))


def capitalized(text: str) -> str:
    """``text`` with a capital first letter: a core message shown as a sentence of its own."""
    return text[:1].upper() + text[1:] if text else text


def _sentence(text: str) -> str:
    """The option's phrase ("p must be less than 1, not 1.5") ended as a sentence; its name keeps its case."""
    text = text.strip()
    return text + ("" if not text or text.endswith((".", "!", "?")) else ".")


def _is_whole(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and abs(value) <= SPIN_LIMIT


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and abs(value) <= 1e9


def _read(editor: QWidget) -> Any:
    if isinstance(editor, QCheckBox):
        return editor.isChecked()
    if isinstance(editor, QComboBox):
        return editor.currentText()
    if isinstance(editor, (QSpinBox, QDoubleSpinBox)):
        return editor.value()
    return editor.text()  # type: ignore[attr-defined]
