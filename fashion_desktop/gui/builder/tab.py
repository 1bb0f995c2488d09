"""The Builder tab: stack layers into a network, see its shapes, parameter counts, problems and PyTorch code live.

The parts show and ask: ``LayerPalette`` (the kinds to add), ``LayerList`` (the layers, reordered), ``LayerProperties``
(the selected layer's forms) and ``NetworkOverview`` (the summary, the problems and the code). This class holds the
network, makes every edit one undo step, and lays the parts out with the presets, undo and the architecture files.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import QEvent, QSignalBlocker, Qt, Signal, Slot
from PySide6.QtGui import QColor, QDragEnterEvent, QDragMoveEvent, QDropEvent, QKeySequence, QPalette, QUndoStack
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QSizePolicy, QSplitter, QVBoxLayout, QWidget

from fashion_desktop.core.layers import LAYER_TYPES
from fashion_desktop.core.presets import PRESETS
from fashion_desktop.core.spec import NUM_CLASSES, LayerSpec, ModelSpec
from fashion_desktop.gui.builder.buttons import arrow_icon, push_button
from fashion_desktop.gui.builder.files import (
    architecture_files,
    ask_architecture_file,
    read_architecture,
    save_architecture_as,
)
from fashion_desktop.gui.builder.layer_list import LayerList
from fashion_desktop.gui.builder.palette import LayerPalette
from fashion_desktop.gui.builder.properties import LayerProperties
from fashion_desktop.gui.builder.summary import NetworkOverview, mark_problem, problem_icon, problems_by_layer
from fashion_desktop.gui.builder.undo import Document, SpecSwap
from fashion_desktop.gui.forms import blend


class BuilderTab(QWidget):
    """Edits a :class:`ModelSpec`: every change is one undoable step that swaps the whole (immutable) spec.

    Signals:
        spec_changed: the new ModelSpec, after every edit, undo, redo and load (it may be invalid).
        preset_chosen: the Preset the user picked.
        status_message: a line for the status bar.

    A preset brings training settings too: with :meth:`set_settings_link` the tab reads the settings before a
    preset replaces them and puts them back on undo, so that one Ctrl+Z undoes the whole preset change.
    """

    spec_changed = Signal(object)
    preset_chosen = Signal(object)
    status_message = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._spec = PRESETS["seed"].spec
        self._loss: str | None = None  # the training loss, for the head-against-loss checks
        # The training data's input shape and class count (None: not known yet), set by the Training tab
        self._input_shape: tuple[int, int, int] | None = None
        self._classes: int | None = NUM_CLASSES
        self._preset_name = "seed"  # what the Preset box shows; undo puts it back with the network
        self._read_settings: Callable[[], object] | None = None
        self._apply_settings: Callable[[object], None] | None = None
        self._lock_reason = ""  # why the network cannot be edited now (a training runs); empty when it can
        self.undo_stack = QUndoStack(self)
        self.setAcceptDrops(True)  # architecture JSON files; model files go on to the main window
        self._build_ui()
        self._show_spec(self._spec, 0)

    # -- public interface --
    def spec(self) -> ModelSpec:
        return self._spec

    def set_spec(self, spec: ModelSpec, *, undoable: bool = True, text: str = "Load network") -> None:
        """Show ``spec``; with ``undoable=False`` it also forgets the undo history (a new document)."""
        if undoable:
            self._push(spec, text, 0)
        else:
            self.undo_stack.clear()
            self._show_spec(spec, 0)

    def load_preset(self, name: str, *, undoable: bool = True) -> None:
        """Load a ready-made network and its training settings (through the settings link) as one step."""
        preset = PRESETS[name]
        # Made for Fashion-MNIST's ten classes: its head takes the image folder's own count when that is known
        spec = preset.spec if self._classes is None else preset.spec.with_classes(self._classes)
        linked = self._read_settings is not None
        if undoable:
            before = self._read_settings() if self._read_settings is not None else None
            self._push(
                spec,
                f"Load preset {name}",
                0,
                preset=name,
                settings=(before, preset.config if linked else None),
            )
        else:
            self.undo_stack.clear()
            self._show_document(Document(spec, name, preset.config if linked else None), 0)
        self.preset_chosen.emit(preset)
        self.status_message.emit(f"Loaded the {name} preset")

    def set_settings_link(self, read: Callable[[], object], apply: Callable[[object], None]) -> None:
        """Let a preset change (and its undo) read and set the training settings that come with a preset."""
        self._read_settings, self._apply_settings = read, apply

    def set_locked(self, reason: str) -> None:
        """Refuse edits while ``reason`` is not empty (a training uses this network), and say why."""
        self._lock_reason = reason
        self.lock_label.setText(reason)
        self.lock_label.setVisible(bool(reason))
        editing = not reason
        for widget in (self.preset_combo, self.load_button):
            widget.setEnabled(editing)
        self.properties.set_editing(editing)
        self.layer_palette.set_editing(editing)
        self.layer_list.set_editing(editing)
        self.undo_stack.setActive(editing)  # also disables Edit > Undo and Redo
        self._on_undo_stack_index_changed()

    def is_locked(self) -> bool:
        return bool(self._lock_reason)

    def set_model_note(self, text: str) -> None:
        """Say which network the trained or opened model belongs to; empty hides the note."""
        self.model_note.setText(text)
        self.model_note.setVisible(bool(text))

    def set_loss(self, loss: str | None) -> None:
        """Check the network's head against this training loss (NLLLoss needs LogSoftmax, and so on)."""
        if loss != self._loss:
            self._loss = loss
            self._refresh_checks()

    def set_data(self, input_shape: tuple[int, int, int], classes: int | None) -> None:
        """Check the network against the training data: its input shape and its class count.

        Every network shown takes the data's input shape, presets and undo steps too; ``classes`` None: not known
        yet, and not checked.
        """
        if (input_shape, classes) != (self._input_shape, self._classes):
            self._input_shape, self._classes = input_shape, classes
            self._show_spec(self._spec, max(self.layer_list.view.currentRow(), 0))

    def on_core_ready(self) -> None:
        """PyTorch has loaded: the code view and activation plots can now be drawn."""
        self.overview.on_core_ready()
        self._refresh_code()
        self.properties.on_core_ready()

    def add_layer(self, kind: str) -> None:
        """Insert a layer of ``kind`` with default options after the selected layer (or at the end)."""
        row = self.layer_list.view.currentRow()
        index = row + 1 if row >= 0 else len(self._spec.layers)
        self._push(self._spec.inserted(index, LayerSpec(kind)), f"Add {kind}", index)
        self.status_message.emit(f"Added {kind} as layer {index + 1}")

    def move_layer(self, source: int, target: int) -> None:
        if source != target and 0 <= target < len(self._spec.layers):
            self._push(self._spec.moved(source, target), f"Move {self._spec.layers[source].kind}", target)

    def remove_layer(self, index: int) -> None:
        kind = self._spec.layers[index].kind
        self._push(self._spec.removed(index), f"Remove {kind}", min(index, len(self._spec.layers) - 2))
        self.status_message.emit(f"Removed layer {index + 1} ({kind})")

    def duplicate_layer(self, index: int) -> None:
        layer = self._spec.layers[index]
        self._push(self._spec.inserted(index + 1, layer), f"Duplicate {layer.kind}", index + 1)

    def save_architecture(self) -> Path | None:
        """Ask for a file name and write the network as JSON; returns the file, or None if cancelled."""
        path = save_architecture_as(self, self._spec)
        if path is not None:
            self.status_message.emit(f"Saved the architecture to {path}")
        return path

    def load_architecture(self) -> bool:
        """Ask for a JSON file and load the network in it (undoable); a bad file changes nothing."""
        if self._refuse_while_locked():
            return False
        path = ask_architecture_file(self)
        return path is not None and self.load_architecture_file(path)

    def load_architecture_file(self, path: Path) -> bool:
        """Load the network in a JSON file (undoable); a bad file changes nothing and says why."""
        if self._refuse_while_locked():
            return False
        spec = read_architecture(self, path)
        if spec is None:
            return False
        self.set_spec(spec, text=f"Load {path.name}")
        self.status_message.emit(f"Loaded the architecture from {path}")
        return True

    # -- building the widgets --
    def _build_ui(self) -> None:
        self.undo_action = self.undo_stack.createUndoAction(self, "&Undo")
        self.undo_action.setShortcut(QKeySequence("Ctrl+Z"))
        self.redo_action = self.undo_stack.createRedoAction(self, "&Redo")
        self.redo_action.setShortcuts([QKeySequence("Ctrl+Shift+Z"), QKeySequence("Ctrl+Y")])
        for action in (self.undo_action, self.redo_action):
            # Only while the Builder tab is shown: Ctrl+Z on the Training tab must not edit an unseen network.
            action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            self.addAction(action)

        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.setChildrenCollapsible(False)
        self.layer_palette = LayerPalette()  # not ``self.palette``: that would hide QWidget.palette(), the colours
        self.layer_palette.kind_chosen.connect(self.add_layer)
        layers = self._build_layers()
        self.overview = NetworkOverview()
        self.overview.layer_clicked.connect(self._on_overview_layer_clicked)
        for widget in (self.layer_palette, layers, self.overview):
            splitter.addWidget(widget)
        splitter.setStretchFactor(2, 1)
        splitter.setSizes([150, 360, 740])  # the kinds are short words; the summary's columns need the room

        # Above the editors: why they are locked, and which network the trained model belongs to.
        self.lock_label = QLabel()
        self.lock_label.setWordWrap(True)
        self.lock_label.hide()
        self.model_note = QLabel()
        self.model_note.setWordWrap(True)
        self.model_note.hide()

        layout = QVBoxLayout(self)
        layout.addLayout(self._build_top_bar())
        layout.addWidget(self.preset_description)
        layout.addWidget(self.lock_label)
        layout.addWidget(self.model_note)
        layout.addWidget(splitter, 1)
        self._style_notes()
        self._draw_arrow_icons()

    def _build_top_bar(self) -> QHBoxLayout:
        self.preset_combo = QComboBox()
        for preset in PRESETS.values():
            self.preset_combo.addItem(preset.name, preset.name)
            index = self.preset_combo.count() - 1
            self.preset_combo.setItemData(index, preset.description, Qt.ItemDataRole.ToolTipRole)
        self.preset_combo.setMinimumContentsLength(16)
        self.preset_combo.activated.connect(self._on_preset_combo_activated)
        # On a line of its own under the bar: beside the buttons it was clipped to two lines at 1024 pixels.
        self.preset_description = QLabel(PRESETS["seed"].description)
        self.preset_description.setWordWrap(True)
        self.preset_description.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Minimum)

        # Arrows drawn in the palette's text colour: the style's own were black, invisible on a dark palette.
        self.undo_button = push_button("Undo", self.undo_stack.undo, "")
        self.redo_button = push_button("Redo", self.undo_stack.redo, "")
        self.undo_stack.indexChanged.connect(self._on_undo_stack_index_changed)
        self._on_undo_stack_index_changed()

        preset_label = QLabel("&Preset:")
        preset_label.setBuddy(self.preset_combo)
        bar = QHBoxLayout()
        bar.addWidget(preset_label)
        bar.addWidget(self.preset_combo)
        bar.addStretch(1)
        bar.addWidget(self.undo_button)
        bar.addWidget(self.redo_button)
        self.load_button = push_button("&Load architecture...", self.load_architecture, "Open a network saved as JSON")
        self.save_button = push_button("Sa&ve architecture...", self.save_architecture, "Save the network as JSON")
        bar.addWidget(self.load_button)
        bar.addWidget(self.save_button)
        return bar

    def _build_layers(self) -> QWidget:
        self.layer_list = LayerList()
        self.layer_list.view.currentRowChanged.connect(self._on_layer_list_current_row_changed)
        self.layer_list.move_requested.connect(self.move_layer)
        self.layer_list.duplicate_requested.connect(self.duplicate_layer)
        self.layer_list.remove_requested.connect(self.remove_layer)

        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.setChildrenCollapsible(False)
        splitter.addWidget(self.layer_list)
        self.properties = LayerProperties()
        self.properties.layer_edited.connect(self._on_properties_layer_edited)
        splitter.addWidget(self.properties)
        splitter.setSizes([330, 350])
        splitter.setMinimumWidth(320)  # room for "3.  conv1  ·  Conv2d 32 filters, 3x3" without eliding it
        return splitter

    # -- showing the spec --
    def _push(
        self,
        spec: ModelSpec,
        text: str,
        select: int,
        merge_key: object = None,
        preset: str | None = None,
        settings: tuple[object, object] = (None, None),
    ) -> None:
        """One undo step to ``spec``; a preset step also sets the Preset box and swaps ``settings`` (before, after)."""
        if self._refuse_while_locked():
            return
        preset = preset or self._preset_name
        if spec == self._spec and preset == self._preset_name and settings[0] == settings[1]:
            return  # an undo step that changes nothing would only confuse
        before = Document(self._spec, self._preset_name, settings[0])
        after = Document(spec, preset, settings[1])
        self.undo_stack.push(
            SpecSwap(self._show_document, before, after, text, self.layer_list.view.currentRow(), select, merge_key)
        )

    def _refuse_while_locked(self) -> bool:
        if self._lock_reason:
            self.status_message.emit(self._lock_reason)
        return bool(self._lock_reason)

    def _show_document(self, document: Document, select: int) -> None:
        """Show an undo step's state: its preset choice, the training settings it brought, and its network."""
        self._preset_name = document.preset
        with QSignalBlocker(self.preset_combo):
            self.preset_combo.setCurrentIndex(self.preset_combo.findData(document.preset))
        if document.preset in PRESETS:
            self.preset_description.setText(PRESETS[document.preset].description)
        if document.settings is not None and self._apply_settings is not None:
            self._apply_settings(document.settings)
        self._show_spec(document.spec, select)

    def _fitted(self, spec: ModelSpec) -> ModelSpec:
        """``spec`` taking the training data's input shape (the data decides it, not the network)."""
        if self._input_shape is None or spec.input_shape == self._input_shape:
            return spec
        return replace(spec, input_shape=self._input_shape)

    def _show_spec(self, spec: ModelSpec, select: int) -> None:
        """Make ``spec`` (on the training data's input) the current network, select layer ``select``, tell the tabs."""
        self._spec = spec = self._fitted(spec)
        self.layer_list.show_layers(spec)
        with QSignalBlocker(self.layer_list.view):
            self.layer_list.view.setCurrentRow(min(max(select, 0), len(spec.layers) - 1))
        self._refresh_checks()
        self._refresh_code()
        self._show_properties()
        self.spec_changed.emit(spec)

    def _refresh_checks(self) -> None:
        """The summary table, the totals and the problems, with invalid layers marked in the list and table."""
        problems = self._spec.validate(self._loss, classes=self._classes)
        by_layer = problems_by_layer(problems)
        summary = self._spec.summary()
        # This tab's palette, not the parts' own: a palette change reaches the tab before its children.
        self.overview.show_summary(summary, by_layer, self._colours(), self.style())
        for row in summary.rows:
            item, problem = self.layer_list.view.item(row.index), by_layer.get(row.index)
            mark_problem(item, problem, self._colours())
            item.setIcon(problem_icon(problem, self.style()))
        self.overview.show_problems(problems)
        self.layer_list.update_buttons()

    def _refresh_code(self) -> None:
        self.overview.show_code(self._spec, self._classes)

    def _colours(self) -> QPalette:
        """This widget's palette (``self.layer_palette`` is the layer kinds' box)."""
        return QWidget.palette(self)

    def _draw_arrow_icons(self) -> None:
        colour = self._colours().color(QPalette.ColorRole.ButtonText)
        for button, direction in (
            (self.undo_button, "left"),
            (self.redo_button, "right"),
            (self.layer_list.up_button, "up"),
            (self.layer_list.down_button, "down"),
        ):
            button.setIcon(arrow_icon(direction, colour, self.devicePixelRatioF()))

    def _style_notes(self) -> None:
        """Colours for the lock and model notes that follow the palette."""
        base = self._colours().color(QPalette.ColorRole.Window)
        for label, tint in ((self.lock_label, QColor(255, 193, 7)), (self.model_note, QColor(13, 110, 253))):
            background = blend(base, tint, 0.25)
            text = self._colours().color(QPalette.ColorRole.WindowText)
            label.setStyleSheet(
                f"background: {background.name()}; color: {text.name()}; border-radius: 4px; padding: 4px;"
            )

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if event.type() == QEvent.Type.PaletteChange and hasattr(self, "overview"):
            self._draw_arrow_icons()
            self._style_notes()
            self._refresh_checks()
            self.properties.colour_plot()

    # -- drops: an architecture JSON file loads here; anything else goes on to the main window --
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        self._accept_architecture(event)

    def dragMoveEvent(self, event: QDragMoveEvent) -> None:
        self._accept_architecture(event)

    def dropEvent(self, event: QDropEvent) -> None:
        files = architecture_files(event)
        if not files:
            event.ignore()
            return
        event.setDropAction(Qt.DropAction.CopyAction)  # a file manager deletes the originals of a move
        event.accept()
        self.load_architecture_file(files[0])

    def _accept_architecture(self, event: QDragEnterEvent | QDragMoveEvent) -> None:
        if architecture_files(event):
            event.setDropAction(Qt.DropAction.CopyAction)
            event.accept()
        else:
            event.ignore()

    def _selected_layer(self) -> LayerSpec | None:
        row = self.layer_list.view.currentRow()
        return self._spec.layers[row] if 0 <= row < len(self._spec.layers) else None

    def _show_properties(self) -> None:
        """Show the selected layer in the properties panel."""
        layer = self._selected_layer()
        name = self._spec.module_names()[self.layer_list.view.currentRow()] if layer is not None else ""
        self.properties.show_layer(layer, name)

    # -- slots --
    @Slot()
    def _on_undo_stack_index_changed(self) -> None:
        stack = self.undo_stack
        self.undo_button.setEnabled(stack.isActive() and stack.canUndo())
        self.redo_button.setEnabled(stack.isActive() and stack.canRedo())
        self.undo_button.setToolTip(f"Undo {stack.undoText()} (Ctrl+Z)" if stack.canUndo() else "Nothing to undo")
        self.redo_button.setToolTip(f"Redo {stack.redoText()} (Ctrl+Shift+Z)" if stack.canRedo() else "Nothing to redo")

    @Slot(int)
    def _on_preset_combo_activated(self, index: int) -> None:
        name = self.preset_combo.itemData(index)
        if name == self._preset_name and self._spec == self._fitted(PRESETS[name].spec):
            return  # the same preset again: nothing to load, and no settings to overwrite
        self.load_preset(name)

    @Slot(int)
    def _on_layer_list_current_row_changed(self, _row: int) -> None:
        self._show_properties()

    @Slot(int)
    def _on_overview_layer_clicked(self, row: int) -> None:
        self.layer_list.view.setCurrentRow(row)

    @Slot(object, str)
    def _on_properties_layer_edited(self, new: LayerSpec, what: str) -> None:
        """Replace the selected layer with ``new`` as one undo step; repeated edits of ``what`` merge."""
        row, layer = self.layer_list.view.currentRow(), self._selected_layer()
        if layer is not None and new != layer:
            name = self._spec.module_names()[row]
            self._push(self._spec.replaced(row, new), f"Edit {name} {what}", row, merge_key=(row, what))


def _category(layer: LayerSpec) -> str:
    return LAYER_TYPES[layer.kind].category if layer.kind in LAYER_TYPES else ""
