"""The Training tab's settings: the data (``data.DataSection``), every TrainConfig field, in and out of QSettings.

Every training setting is one row of ``SETTINGS``: its editor, how it reads and fills a TrainConfig, its change
signal and its name in messages. ``set_config``, ``config``, the change wiring and ``SETTING_WORDS`` are all
derived from it, so a new setting is one new row (plus its TrainConfig field).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import QSettings, QSignalBlocker, Qt, QTimer, Signal, SignalInstance, Slot
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from fashion_desktop.core.config import (
    LOSS_LABELS,
    LOSS_NOTES,
    LOSSES,
    OPTIMIZERS,
    SCHEDULERS,
    TrainConfig,
    changed_settings,
)
from fashion_desktop.core.errors import UserError
from fashion_desktop.core.params import Param, Value, resolve
from fashion_desktop.core.presets import get_preset
from fashion_desktop.gui.forms import INVALID_STYLE, OptionsForm
from fashion_desktop.gui.plots.epochs import LearningRatePreview
from fashion_desktop.gui.training.data import DataSection

SETTINGS_CONFIG = "training/config"
SETTINGS_DATA_FOLDER = "data/folder"
PREVIEW_DELAY_MS = 150  # typing "100" into the epochs box recomputes the LR preview once, not three times


class ChoiceEditor(QWidget):
    """A combo box of named choices (optimizers, schedulers, losses) with an OptionsForm for the chosen one."""

    changed = Signal()

    def __init__(
        self,
        schemas: Mapping[str, Sequence[Param]],
        labels: Mapping[str, str] | None = None,
        parent: QWidget | None = None,
        notes: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(parent)
        self.schemas, self.notes = schemas, notes or {}
        self.combo = QComboBox()
        for name in schemas:
            self.combo.addItem((labels or {}).get(name, name), name)
            self.combo.setItemData(self.combo.count() - 1, self.notes.get(name, ""), Qt.ItemDataRole.ToolTipRole)
        self.form = OptionsForm(schemas[self.name()])
        self.note = QLabel(wordWrap=True, visible=bool(self.notes))  # what the chosen one does, in plain words
        self.note.setText(self.notes.get(self.name(), ""))
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.combo)
        layout.addWidget(self.note)
        layout.addWidget(self.form)
        self.combo.currentIndexChanged.connect(self._on_combo_changed)
        self.form.values_changed.connect(self.changed)

    def name(self) -> str:
        return self.combo.currentData()

    def options(self) -> dict[str, Value]:
        """The valid options that differ from their defaults, so a config round-trips as it was written."""
        defaults = {param.name: param.default for param in self.schemas[self.name()]}
        return {name: value for name, value in self.form.values().items() if value != defaults[name]}

    def problems(self) -> list[str]:
        return self.form.problems()

    def set_choice(self, name: str, options: Mapping[str, Value]) -> None:
        with QSignalBlocker(self.combo):
            self.combo.setCurrentIndex(self.combo.findData(name))
        self.note.setText(self.notes.get(self.name(), ""))
        # resolve() turns JSON lists back into tuples and fills in the defaults.
        self.form.set_params(self.schemas[name], resolve(self.schemas[name], options)[0])

    @Slot()
    def _on_combo_changed(self) -> None:
        self.form.set_params(self.schemas[self.name()])
        self.note.setText(self.notes.get(self.name(), ""))
        self.changed.emit()


@dataclass(frozen=True)
class Setting:
    """One TrainConfig field as a row of the form; a ChoiceEditor's row holds two, ``loss`` and ``loss_options``.

    How a row is read, filled and watched follows from its editor's kind (``_read``, ``_fill``, ``_changed``).
    """

    field: str  # the TrainConfig field
    words: str  # its name in messages: "the batch size, learning rate differ from the model's"
    label: str  # the form row's label; "" for a check box that says it all
    make: Callable[[], QWidget]
    group: str = "Hyperparameters"


TYPED_MAXIMUM = 2**31 - 1  # what a spin box lets through as typed; the settings' own limits are checked after


class _LimitedSpin(QSpinBox):
    """A spin box that shows what was typed, even above its limit, and marks it instead of cutting it down.

    A QSpinBox with maximum 59,000 drops the last digit of a typed 60000 and shows 6000, as if that was meant;
    this one keeps 60000, draws a red border with the limit in its tooltip, and TrainConfig.problems() says why
    Start cannot train.
    """

    def __init__(self, minimum: int, maximum: int, step: int, tip: str) -> None:
        super().__init__(minimum=minimum, maximum=TYPED_MAXIMUM, singleStep=step)
        self.valid_maximum, self.tip = maximum, tip
        self.valueChanged.connect(self._mark)
        self._mark(self.value())

    def stepBy(self, steps: int) -> None:
        """The arrows stay within the limit; only typing goes past it, and is marked."""
        self.setValue(max(self.minimum(), min(self.valid_maximum, self.value() + steps * self.singleStep())))

    @Slot(int)
    def _mark(self, value: int) -> None:
        too_big = value > self.valid_maximum
        self.setStyleSheet(f"QSpinBox {{ {INVALID_STYLE} }}" if too_big else "")
        self.setToolTip(f"at most {self.valid_maximum:,}: {value:,} is too many" if too_big else self.tip)


def _spin(minimum: int, maximum: int, step: int = 1, special: str = "", tip: str = "") -> Callable[[], QWidget]:
    def make() -> QWidget:
        spin = _LimitedSpin(minimum, maximum, step, tip)
        spin.setSpecialValueText(special)
        return spin

    return make


def _check(text: str, tip: str = "") -> Callable[[], QWidget]:
    def make() -> QWidget:
        check = QCheckBox(text)
        check.setToolTip(tip)
        return check

    return make


def _number_edit(tip: str) -> Callable[[], QWidget]:
    def make() -> QWidget:
        edit = QLineEdit()
        edit.setToolTip(tip)
        return edit

    return make


def _device_combo() -> QWidget:
    combo = QComboBox()
    combo.addItem("Auto", "auto")  # the rest once torch has listed the devices
    return combo


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "val_size",
        "validation images",
        "Validation images",
        _spin(0, 59_000, 1000, tip="training images held out to measure the validation loss and accuracy each epoch"),
        group="Data",
    ),
    Setting("epochs", "epochs", "Epochs", _spin(1, 10_000)),
    Setting("batch_size", "batch size", "Batch size", _spin(1, 60_000)),
    Setting("lr", "learning rate", "Learning rate", _number_edit("e.g. 0.003 or 3e-3")),
    Setting("loss", "loss", "Loss", lambda: ChoiceEditor(LOSSES, LOSS_LABELS, notes=LOSS_NOTES)),
    Setting("optimizer", "optimizer", "Optimizer", lambda: ChoiceEditor(OPTIMIZERS)),
    Setting("scheduler", "LR schedule", "LR schedule", lambda: ChoiceEditor(SCHEDULERS)),
    Setting("seed", "seed", "Seed", _spin(0, 2**31 - 1)),
    Setting("augment", "augmentation", "Augmentation", _check("Random flips and shifts")),
    Setting(
        "early_stopping_patience",
        "early stopping",
        "Early stopping",
        _spin(0, 10_000, special="off", tip="stop when the validation loss has not improved for this many epochs"),
    ),
    Setting(
        "keep_best",
        "keep the best epoch",
        "",
        _check("End with the best epoch's weights", "the epoch with the lowest validation loss"),
    ),
    Setting("device", "device", "Device", _device_combo),
)
SETTING_WORDS = {setting.field: setting.words for setting in SETTINGS}
PREVIEW_AFTER = "scheduler"  # the LR-per-epoch preview's row follows this setting's


def _read(editor: QWidget, field: str) -> dict[str, Any]:
    """The editor's value as TrainConfig keyword arguments."""
    if isinstance(editor, ChoiceEditor):
        return {field: editor.name(), f"{field}_options": editor.options()}
    if isinstance(editor, QCheckBox):
        return {field: editor.isChecked()}
    if isinstance(editor, QSpinBox):
        return {field: editor.value()}
    if isinstance(editor, QComboBox):
        return {field: editor.currentData()}
    assert isinstance(editor, QLineEdit)
    try:
        return {field: float(editor.text())}
    except ValueError:
        return {field: math.nan}  # TrainConfig.problems() reports it


def _fill(editor: QWidget, config: TrainConfig, field: str) -> None:
    value = getattr(config, field)
    if isinstance(editor, ChoiceEditor):
        editor.set_choice(value, getattr(config, f"{field}_options"))
    elif isinstance(editor, QCheckBox):
        editor.setChecked(value)
    elif isinstance(editor, QSpinBox):
        editor.setValue(value)
    elif isinstance(editor, QComboBox):
        _select(editor, value)
    else:
        assert isinstance(editor, QLineEdit)
        editor.setText(str(value))  # repr-exact, so config() gives back the same float


def _changed(editor: QWidget) -> SignalInstance:
    if isinstance(editor, ChoiceEditor):
        return editor.changed
    if isinstance(editor, QCheckBox):
        return editor.toggled
    if isinstance(editor, QSpinBox):
        return editor.valueChanged
    if isinstance(editor, QComboBox):
        return editor.currentIndexChanged
    assert isinstance(editor, QLineEdit)
    return editor.textChanged


def _select(combo: QComboBox, value: str) -> None:
    if combo.findData(value) < 0:
        combo.addItem(value, value)  # "cuda" before torch has listed the GPUs, say
    combo.setCurrentIndex(combo.findData(value))


def changed_setting_words(trained: TrainConfig, current: TrainConfig) -> list[str]:
    """The settings, in words, that differ between a model's training and the controls (CONTINUE_MAY_CHANGE aside)."""
    words = [SETTING_WORDS.get(key.removesuffix("_options"), key) for key in changed_settings(trained, current)]
    return list(dict.fromkeys(words))


class SettingsPanel(QWidget):
    """The data folder and the training settings, kept in QSettings between launches.

    Signals:
        changed: any setting or the folder was edited (or filled by ``set_config``).
        loss_changed: the loss's name, when it may have changed: the Builder checks the network's head against it.
        data_root_changed: the data folder (a Path), once per change that the user has finished.
        download_requested: the Download button was clicked.
    """

    changed = Signal()
    loss_changed = Signal(str)
    data_root_changed = Signal(object)
    download_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._core_ready = False
        self._last_data_root: Path | None = None
        # Before the preview it draws on: Qt deletes children in the order they were made, so the timer goes first.
        self._preview_timer = QTimer(self, singleShot=True, interval=PREVIEW_DELAY_MS)
        self._preview_timer.timeout.connect(self._on_preview_timer_timeout)
        self.editors: dict[str, QWidget] = {setting.field: setting.make() for setting in SETTINGS}
        self.lr_preview = LearningRatePreview()
        self.lr_preview.setToolTip("the learning rate of each epoch, as the scheduler will set it")
        # Tall enough that its y labels do not run into one another (100-130 px squeezed them together).
        self.lr_preview.setMinimumHeight(150)
        self.lr_preview.setMaximumHeight(190)
        self.lr_preview_note = QLabel(wordWrap=True, visible=False)
        self.data = DataSection()
        layout = QVBoxLayout(self)
        layout.addWidget(self._data_group())
        layout.addWidget(self._form_group("Hyperparameters"))
        layout.addStretch(1)
        for editor in self.editors.values():
            _changed(editor).connect(self._on_settings_edited)
        self.editors["loss"].changed.connect(self._on_loss_edited)  # type: ignore[attr-defined]
        self.data.changed.connect(self._on_data_changed)
        self._restore()
        self._on_data_changed()

    # -- building --
    def _data_group(self) -> QGroupBox:
        self.folder_edit = QLineEdit(placeholderText="the folder that holds (or will hold) FashionMNIST/")
        self.folder_edit.setToolTip("Fashion-MNIST is read from FashionMNIST/raw inside this folder")
        self.browse_button = QPushButton("Browse...")
        self.download_button = QPushButton("Download")
        self.download_button.setToolTip("Download Fashion-MNIST (about 30 MB) into this folder, if it is not there")
        buttons = QHBoxLayout()
        buttons.addWidget(self.browse_button)
        buttons.addWidget(self.download_button)
        group = self._form_group("Data")
        form = group.layout()
        assert isinstance(form, QFormLayout)
        self._data_form = form
        form.insertRow(0, self.data)
        form.insertRow(1, "Folder", self.folder_edit)
        form.insertRow(2, "", buttons)
        self._download_row = buttons
        form.addRow("Start from", self.data.init_row)
        self.browse_button.clicked.connect(self._on_browse_clicked)
        self.download_button.clicked.connect(self.download_requested)
        self.folder_edit.editingFinished.connect(self._on_folder_edit_editing_finished)
        self.folder_edit.textChanged.connect(self._on_settings_edited)
        return group

    def _form_group(self, title: str) -> QGroupBox:
        """A group with the rows of SETTINGS that belong to it, in their order."""
        group = QGroupBox(title)
        form = QFormLayout(group)
        for setting in SETTINGS:
            if setting.group == title:
                form.addRow(setting.label, self.editors[setting.field])
                if setting.field == PREVIEW_AFTER:
                    form.addRow("LR per epoch", self.lr_preview)
                    form.addRow("", self.lr_preview_note)
        return group

    # -- config in and out --
    def set_config(self, config: TrainConfig) -> None:
        """Fill every control from ``config`` (a preset's settings, say)."""
        for field, editor in self.editors.items():
            _fill(editor, config, field)
        self._on_settings_edited()
        self.loss_changed.emit(config.loss)

    def config(self) -> TrainConfig:
        """The settings as the controls show them (possibly invalid: see ``TrainConfig.problems()``)."""
        values: dict[str, Any] = {}
        for field, editor in self.editors.items():
            values |= _read(editor, field)
        return TrainConfig(**values)

    def editor(self, field: str) -> QWidget:
        """The editor of one TrainConfig field."""
        return self.editors[field]

    def data_root(self) -> Path:
        return Path(self.folder_edit.text().strip()).expanduser()

    def has_data_folder(self) -> bool:
        return bool(self.folder_edit.text().strip())

    # -- problems --
    def problems(self) -> list[str]:
        """What is wrong with the folder and settings, in words (the network's problems are the tab's)."""
        problems = [] if self.has_data_folder() or self.data.is_folder() else ["choose a data folder"]
        problems += self.data.problems()
        config_problems = self.config().problems()
        if self._lr_is_not_a_number():
            text = self.editors["lr"].text()  # type: ignore[attr-defined]
            problems.append(f"learning rate must be a number such as 0.003 or 3e-3, not {text!r}")
            config_problems = [p for p in config_problems if not p.startswith("learning rate")]
        return problems + self.option_problems() + config_problems

    def option_problems(self) -> list[str]:
        """Options typed into the choice editors' forms (loss, optimizer, scheduler) that are out of range."""
        return [
            f"{field} {editor.name()}: {problem}"
            for field, editor in self.editors.items()
            if isinstance(editor, ChoiceEditor)
            for problem in editor.problems()
        ]

    def _lr_is_not_a_number(self) -> bool:
        return math.isnan(self.config().lr)

    def _show_lr_validity(self) -> None:
        lr_ok = TrainConfig(lr=self.config().lr).problems() == []
        self.editors["lr"].setStyleSheet("" if lr_ok else INVALID_STYLE)

    # -- start-up and persistence --
    def on_core_ready(self) -> None:
        """Torch has loaded: list the devices, fill in the default data folder and draw the LR preview."""
        from fashion_desktop.core.paths import resolve_data_dir
        from fashion_desktop.core.runtime import available_devices

        self._core_ready = True
        self.data.on_core_ready()
        combo = self.editors["device"]
        assert isinstance(combo, QComboBox)
        current = combo.currentData()
        with QSignalBlocker(combo):
            combo.clear()
            for value, label in available_devices():
                combo.addItem(label, value)
        _select(combo, current if combo.findData(current) >= 0 else "auto")
        if not self.has_data_folder():
            self.folder_edit.setText(str(resolve_data_dir(None)))
        # Now rather than after the usual delay: torch's first optimizer imports torch._dynamo (a second or more),
        # and one longer pause while the core loads is better than a second one just after it.
        self._preview_timer.stop()
        self._on_preview_timer_timeout()

    def _restore(self) -> None:
        settings = QSettings()
        self.folder_edit.setText(str(settings.value(SETTINGS_DATA_FOLDER, "") or ""))
        first_run = get_preset("seed").config  # the settings of the network the Builder starts with
        saved = str(settings.value(SETTINGS_CONFIG, "") or "")
        try:
            self.set_config(TrainConfig.from_dict(json.loads(saved)) if saved else first_run)
        except (ValueError, TypeError, KeyError, UserError):
            self.set_config(first_run)  # settings from another version, or edited by hand: start afresh

    def save_settings(self) -> None:
        """Remember the settings and data folder the controls show, for the next launch.

        Settings with problems (a learning rate of "fast", say) are not saved: the last good ones are kept.
        """
        config = self.config()
        settings = QSettings()
        if not config.problems() and not self.option_problems():
            settings.setValue(SETTINGS_CONFIG, json.dumps(config.to_dict()))
        settings.setValue(SETTINGS_DATA_FOLDER, self.folder_edit.text().strip())
        self.data.save_settings()

    def commit_data_root(self) -> None:
        """Remember the folder and tell the window, once per change."""
        if not self.has_data_folder():
            return
        root = self.data_root()
        QSettings().setValue(SETTINGS_DATA_FOLDER, str(root))
        if root != self._last_data_root:
            self._last_data_root = root
            self.data_root_changed.emit(root)

    # -- reactions --
    @Slot()
    def _on_settings_edited(self) -> None:
        self._show_lr_validity()
        self.changed.emit()
        if self._core_ready:
            self._preview_timer.start()

    @Slot()
    def _on_data_changed(self) -> None:
        """The data folder's rows are for the IDX datasets; an image folder splits its own validation images."""
        idx = not self.data.is_folder()
        for row in (self.folder_edit, self._download_row, self.editors["val_size"]):
            self._data_form.setRowVisible(row, idx)
        title, folder = self.data.title(), self.data.idx_folder()
        self.folder_edit.setToolTip(f"{title} is read from {folder}/raw inside this folder")
        self.download_button.setToolTip(f"Download {title} into this folder, if it is not there")
        self.changed.emit()

    @Slot()
    def _on_loss_edited(self) -> None:
        self.loss_changed.emit(self.config().loss)

    @Slot()
    def _on_preview_timer_timeout(self) -> None:
        from fashion_desktop.core.optim import preview_learning_rates

        config = self.config()
        if config.problems() or self.option_problems():
            self.lr_preview.clear()
        else:
            self.lr_preview.set_rates(preview_learning_rates(config))
        # Its flat line is only where the rate starts: the steps down depend on a validation loss not yet known.
        self.lr_preview_note.setText(
            "ReduceLROnPlateau lowers the rate only when the validation loss stops improving, so the line shows "
            "the starting rate; the curves show the real one during training."
        )
        self.lr_preview_note.setVisible(config.scheduler == "ReduceLROnPlateau")

    @Slot()
    def _on_browse_clicked(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Choose the data folder", self.folder_edit.text())
        if folder:
            self.folder_edit.setText(folder)
            self.commit_data_root()

    @Slot()
    def _on_folder_edit_editing_finished(self) -> None:
        self.commit_data_root()
