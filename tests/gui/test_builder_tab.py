"""The Builder tab, driven through its real widgets: presets, palette, layer list, options forms, undo and files."""

from __future__ import annotations

import json

import pytest
from PySide6.QtCore import QModelIndex, Qt
from PySide6.QtWidgets import QFileDialog, QMessageBox, QWidget

from fashion_desktop.core.layers import CATEGORIES, LAYER_TYPES
from fashion_desktop.core.presets import PRESETS
from fashion_desktop.core.spec import ModelSpec
from fashion_desktop.gui.builder import BuilderTab
from fashion_desktop.gui.builder.summary import severity_colours

SEED_KINDS = ["Flatten", "Linear", "ReLU", "Dropout", "Linear", "ReLU", "Dropout", "Linear", "LogSoftmax"]


@pytest.fixture
def builder(qtbot) -> BuilderTab:
    tab = BuilderTab()
    qtbot.addWidget(tab)
    tab.resize(1280, 740)
    tab.show()
    qtbot.waitExposed(tab)
    return tab


def kinds(spec: ModelSpec) -> list[str]:
    return [layer.kind for layer in spec.layers]


def double_click_palette(qtbot, tab: BuilderTab, kind: str) -> None:
    (item,) = tab.layer_palette.tree.findItems(kind, Qt.MatchFlag.MatchExactly | Qt.MatchFlag.MatchRecursive)
    centre = tab.layer_palette.tree.visualItemRect(item).center()
    # The press a double-click needs first:
    qtbot.mouseClick(tab.layer_palette.tree.viewport(), Qt.MouseButton.LeftButton, pos=centre)
    qtbot.mouseDClick(tab.layer_palette.tree.viewport(), Qt.MouseButton.LeftButton, pos=centre)


def as_sentence(message: str) -> str:
    """A core message as the tab shows it: a capital first letter and a full stop."""
    return message[0].upper() + message[1:] + "."


def table_column(tab: BuilderTab, column: int) -> list[str]:
    table = tab.overview.summary_table
    return [table.item(row, column).text() for row in range(table.rowCount())]


def test_starts_with_the_seed_network_and_its_summary(builder):
    assert kinds(builder.spec()) == SEED_KINDS
    assert builder.layer_list.view.count() == builder.overview.summary_table.rowCount() == 9
    assert "235,146" in builder.overview.totals_label.text()
    assert table_column(builder, 2) == ["784", "256", "256", "256", "128", "128", "128", "10", "10"]
    assert table_column(builder, 3)[1] == "200,960"
    assert "can train" in builder.overview.problems_label.text()


@pytest.mark.parametrize(("name", "total"), [("seed", "235,146"), ("d2l-mlp", "203,530"), ("small-cnn", "421,930")])
def test_choosing_a_preset_loads_its_network_and_announces_it(qtbot, builder, name, total):
    builder.add_layer("ReLU")  # an edit the preset replaces
    combo = builder.preset_combo
    index = combo.findData(name)
    assert combo.itemData(index, Qt.ItemDataRole.ToolTipRole) == PRESETS[name].description
    with qtbot.waitSignal(builder.preset_chosen) as chosen, qtbot.waitSignal(builder.spec_changed) as changed:
        combo.setCurrentIndex(index)
        combo.activated.emit(index)  # what a user's pick in the pop-up emits
    assert chosen.args == [PRESETS[name]]
    assert changed.args == [PRESETS[name].spec] and builder.spec() == PRESETS[name].spec
    assert f"Total params: <b>{total}</b>" in builder.overview.totals_label.text()
    assert builder.overview.summary_table.rowCount() == len(PRESETS[name].spec.layers)


def test_palette_adds_after_the_selection_and_the_units_editor_updates_the_summary(qtbot, builder):
    builder.layer_list.view.setCurrentRow(1)  # fc1
    double_click_palette(qtbot, builder, "Linear")
    assert kinds(builder.spec())[:4] == ["Flatten", "Linear", "Linear", "ReLU"]
    assert builder.layer_list.view.currentRow() == 2
    assert table_column(builder, 2)[2] == "128"  # the default out_features

    units = builder.properties.options_form.editor("out_features")
    units.selectAll()
    qtbot.keyClicks(units, "64")
    assert builder.spec().layers[2].option("out_features") == 64
    assert table_column(builder, 2)[2:4] == ["64", "64"]
    assert table_column(builder, 3)[2] == f"{256 * 64 + 64:,}"
    assert table_column(builder, 3)[5] == f"{64 * 128 + 128:,}"  # the next Linear now takes 64 inputs
    assert "fc2  ·  Linear 64 units" in builder.layer_list.view.item(2).text()

    (dropout,) = builder.layer_palette.tree.findItems(
        "Dropout", Qt.MatchFlag.MatchExactly | Qt.MatchFlag.MatchRecursive
    )
    builder.layer_palette.tree.setCurrentItem(dropout)
    qtbot.mouseClick(builder.layer_palette.add_button, Qt.MouseButton.LeftButton)
    assert kinds(builder.spec())[3] == "Dropout"


def test_the_palette_lists_every_layer_kind_under_its_category_with_its_description(builder):
    palette = builder.layer_palette.tree
    groups = [palette.topLevelItem(i) for i in range(palette.topLevelItemCount())]
    assert [group.text(0) for group in groups] == list(CATEGORIES.values())
    listed = {
        group.child(j).text(0): (group.text(0), group.child(j).toolTip(0))
        for group in groups
        for j in range(group.childCount())
    }
    assert listed == {kind: (CATEGORIES[t.category], t.description) for kind, t in LAYER_TYPES.items()}


@pytest.mark.parametrize("kind", list(LAYER_TYPES))
def test_each_palette_kind_is_added_by_a_double_click_and_summarised(qtbot, builder, kind):
    builder.load_preset("small-cnn")
    builder.layer_list.view.setCurrentRow(0)  # after conv1, where image layers fit; flat ones are shown as a problem
    double_click_palette(qtbot, builder, kind)
    spec = builder.spec()
    assert spec.layers[1].kind == kind and builder.layer_list.view.currentRow() == 1
    assert f"{spec.module_names()[1]}  ·  {kind}" in builder.layer_list.view.item(1).text()
    row = spec.summary().rows[1]
    assert table_column(builder, 2)[1] == ("x".join(map(str, row.output_shape)) if row.output_shape else "?")
    assert LAYER_TYPES[kind].description in builder.properties.title.text()


def test_weight_initialisation_is_edited_through_its_own_form(builder):
    builder.layer_list.view.setCurrentRow(1)
    assert builder.properties.init_section.isVisible()
    builder.properties.init_combo.setCurrentText("normal")
    builder.properties.init_combo.activated.emit(builder.properties.init_combo.currentIndex())
    assert builder.spec().layers[1].init == "normal"
    builder.properties.init_form.editor("std").setValue(0.05)
    assert builder.spec().layers[1].init_params["std"] == pytest.approx(0.05)
    builder.properties.bias_combo.setCurrentText("zeros")
    builder.properties.bias_combo.activated.emit(builder.properties.bias_combo.currentIndex())
    assert builder.spec().layers[1].bias_init == "zeros"

    builder.layer_list.view.setCurrentRow(2)  # ReLU: nothing to initialise
    assert not builder.properties.init_section.isVisible()


def test_up_and_down_buttons_reorder_the_layers(qtbot, builder):
    builder.layer_list.view.setCurrentRow(3)  # dropout1
    qtbot.mouseClick(builder.layer_list.up_button, Qt.MouseButton.LeftButton)
    assert kinds(builder.spec())[1:4] == ["Linear", "Dropout", "ReLU"]
    assert builder.layer_list.view.currentRow() == 2
    qtbot.mouseClick(builder.layer_list.down_button, Qt.MouseButton.LeftButton)
    assert kinds(builder.spec()) == SEED_KINDS

    builder.layer_list.view.setCurrentRow(0)
    assert not builder.layer_list.up_button.isEnabled()
    builder.layer_list.view.setCurrentRow(8)
    assert not builder.layer_list.down_button.isEnabled()


def test_drag_and_drop_reorders_the_spec(qtbot, builder):
    builder.layer_list.view.setCurrentRow(3)
    # QListWidget's InternalMove drop moves the row in its model with moveRow, as here.
    with qtbot.waitSignal(builder.spec_changed) as changed:
        assert builder.layer_list.view.model().moveRow(QModelIndex(), 3, QModelIndex(), 1)
    assert kinds(changed.args[0])[:4] == ["Flatten", "Dropout", "Linear", "ReLU"]
    assert kinds(builder.spec()) == kinds(changed.args[0])
    assert builder.layer_list.view.item(1).text() == "2.  dropout1  ·  Dropout p=0.25"
    assert builder.layer_list.view.currentRow() == 1

    builder.undo_stack.undo()
    assert kinds(builder.spec()) == SEED_KINDS
    assert builder.layer_list.view.item(3).text() == "4.  dropout1  ·  Dropout p=0.25"


def test_duplicate_and_remove(qtbot, builder):
    builder.layer_list.view.setCurrentRow(1)
    qtbot.mouseClick(builder.layer_list.duplicate_button, Qt.MouseButton.LeftButton)
    assert kinds(builder.spec())[:3] == ["Flatten", "Linear", "Linear"]
    assert builder.spec().layers[2] == builder.spec().layers[1]
    qtbot.mouseClick(builder.layer_list.remove_button, Qt.MouseButton.LeftButton)
    assert kinds(builder.spec()) == SEED_KINDS


def test_a_conv2d_after_a_linear_is_marked_invalid(qtbot, builder):
    builder.layer_list.view.setCurrentRow(1)
    with qtbot.waitSignal(builder.spec_changed) as changed:
        builder.add_layer("Conv2d")
    invalid = changed.args[0]
    assert kinds(invalid)[2] == "Conv2d" and invalid.errors()  # the tab passes on invalid specs too
    message = invalid.errors()[0].message
    assert "needs a 3-D input" in message

    row = builder.overview.summary_table.item(2, 0)
    assert row.background().color() == severity_colours("error", QWidget.palette(builder))[0]
    assert row.toolTip() == as_sentence(message) and not row.icon().isNull()
    assert builder.layer_list.view.item(2).toolTip() == as_sentence(message)
    assert builder.overview.summary_table.item(1, 0).toolTip() == ""
    assert "needs a 3-D input" in builder.overview.problems_label.text()
    assert table_column(builder, 2)[2] == "?"


def test_a_softmax_head_with_cross_entropy_is_a_warning(builder):
    builder.set_loss("cross_entropy")
    builder.layer_list.view.setCurrentRow(8)
    builder.remove_layer(8)
    builder.add_layer("Softmax")
    row = builder.overview.summary_table.item(8, 0)
    assert row.background().color() == severity_colours("warning", QWidget.palette(builder))[0]
    assert "applies softmax itself" in row.toolTip()
    assert severity_colours("warning", QWidget.palette(builder))[1].name() in builder.overview.problems_label.text()


def test_undo_and_redo_with_the_keyboard(qtbot, builder):
    builder.activateWindow()
    qtbot.waitActive(builder)
    builder.layer_list.view.setFocus()
    builder.layer_list.view.setCurrentRow(1)
    builder.add_layer("Conv2d")
    builder.remove_layer(0)
    edited = builder.spec()

    qtbot.keyClick(builder.layer_list.view, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert kinds(builder.spec())[0] == "Flatten" and kinds(builder.spec())[2] == "Conv2d"
    qtbot.keyClick(builder.layer_list.view, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert builder.spec() == PRESETS["seed"].spec
    assert not builder.undo_button.isEnabled()

    redo = Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier
    qtbot.keyClick(builder.layer_list.view, Qt.Key.Key_Z, redo)
    qtbot.keyClick(builder.layer_list.view, Qt.Key.Key_Z, redo)
    assert builder.spec() == edited


def test_repeated_edits_of_one_option_are_one_undo_step(builder):
    builder.layer_list.view.setCurrentRow(1)
    units = builder.properties.options_form.editor("out_features")
    for value in (200, 150, 100):
        units.setValue(value)
    assert builder.undo_stack.count() == 1
    builder.undo_stack.undo()
    assert builder.spec() == PRESETS["seed"].spec
    assert builder.properties.options_form.editor("out_features").value() == 256  # the form follows the undo


def test_json_save_and_load_round_trip(builder, tmp_path, monkeypatch):
    builder.layer_list.view.setCurrentRow(1)
    builder.add_layer("BatchNorm")
    saved = builder.spec()
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *args: (str(tmp_path / "net"), ""))
    path = builder.save_architecture()
    assert path == tmp_path / "net.json"
    assert json.loads(path.read_text())["layers"][2] == {"type": "BatchNorm"}

    builder.load_preset("small-cnn")
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *args: (str(path), ""))
    assert builder.load_architecture()
    assert builder.spec() == saved


@pytest.mark.parametrize(("text", "reason"), [('{"layers": [', "not valid JSON"), ('{"layers": [7]}', "not a network")])
def test_loading_bad_json_shows_why_and_keeps_the_network(builder, tmp_path, monkeypatch, text, reason):
    bad = tmp_path / "bad.json"
    bad.write_text(text)
    shown = []
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *args: (str(bad), ""))
    monkeypatch.setattr(QMessageBox, "critical", lambda parent, title, text, *args: shown.append(text))
    assert not builder.load_architecture()
    assert len(shown) == 1 and reason in shown[0]
    assert builder.spec() == PRESETS["seed"].spec


def test_an_unknown_layer_type_is_shown_as_a_problem(builder):
    builder.set_spec(ModelSpec.from_dict({"layers": [{"type": "Flatten"}, {"type": "Banana"}]}))
    builder.layer_list.view.setCurrentRow(1)
    assert "is not a known layer type" in builder.layer_list.view.item(1).toolTip()
    assert "unknown layer type" in builder.properties.title.text()
    assert builder.properties.options_form.isHidden() and builder.properties.init_section.isHidden()


def test_code_view_and_activation_plot_once_the_core_is_ready(builder):
    assert "once PyTorch has loaded" in builder.overview.code_view.toPlainText()
    builder.layer_list.view.setCurrentRow(2)  # relu1
    assert builder.properties.activation_box.isHidden()

    builder.on_core_ready()
    code = builder.overview.code_view.toPlainText()
    assert "class FashionNetwork" in code
    compile(code, "fashion_network.py", "exec")
    assert not builder.properties.activation_box.isHidden()
    x, y = builder.properties._function_curve.getData()
    assert x[0] == -6 and x[-1] == 6 and y.min() == 0

    builder.add_layer("Conv2d")
    assert builder.overview.code_view.toPlainText().startswith("# The network cannot be built yet")


def test_the_code_view_follows_a_valid_edit(qtbot, builder):
    builder.on_core_ready()
    before = builder.overview.code_view.toPlainText()
    assert "nn.Linear(in_features=784, out_features=256)" in before and "out_features=64" not in before
    builder.layer_list.view.setCurrentRow(1)  # fc1
    units = builder.properties.options_form.editor("out_features")
    units.selectAll()
    qtbot.keyClicks(units, "64")
    code = builder.overview.code_view.toPlainText()
    assert "nn.Linear(in_features=784, out_features=64)" in code
    assert "nn.Linear(in_features=64, out_features=128)" in code  # the next layer takes 64 inputs
    compile(code, "fashion_network.py", "exec")


def test_an_invalid_value_from_json_is_shown_as_loaded_with_every_problem_at_once(builder, tmp_path, monkeypatch):
    data = PRESETS["seed"].spec.to_dict()
    del data["layers"][0]  # no Flatten before the first Linear
    data["layers"][0]["out_features"] = -5
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(data))
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *args: (str(path), ""))
    qtbot_click(builder.load_button)
    assert "Linear -5 units" in builder.layer_list.view.item(0).text()  # not the default 128
    builder.layer_list.view.setCurrentRow(0)
    assert builder.properties.options_form.editor("out_features").value() == -5
    problems = builder.overview.problems_label.text()
    assert "out_features must be at least 1, not -5" in problems and "add a Flatten before it" in problems


def qtbot_click(button) -> None:
    from PySide6.QtTest import QTest

    QTest.mouseClick(button, Qt.MouseButton.LeftButton)


def test_an_invalid_edit_is_kept_as_typed_and_explained_in_words(qtbot, builder):
    builder.layer_list.view.setCurrentRow(3)  # dropout1, p=0.25 (say)
    editor = builder.properties.options_form.editor("p")
    editor.selectAll()
    qtbot.keyClicks(editor, "1.5")
    assert editor.value() == 1.5  # not clamped to 1.0
    assert builder.spec().layers[3].params["p"] == 1.5  # the network holds what the form shows
    assert "p=1.5" in builder.layer_list.view.item(3).text()
    reason = builder.properties.options_form.problem_label("p")
    assert reason.isVisible() and "p must be" in reason.text()  # in words beside the box, not only a tooltip
    problems = builder.overview.problems_label.text()
    assert "can train" not in problems and "p must be" in problems
    assert editor.styleSheet() == ""  # a style sheet redraws the spin box without room for its arrows
    editor.selectAll()
    qtbot.keyClicks(editor, "0.5")
    assert not reason.isVisible() and "can train" in builder.overview.problems_label.text()


def test_enter_on_a_palette_item_adds_it(qtbot, builder):
    (relu,) = builder.layer_palette.tree.findItems("ReLU", Qt.MatchFlag.MatchExactly | Qt.MatchFlag.MatchRecursive)
    builder.layer_palette.tree.setCurrentItem(relu)
    builder.layer_list.view.setCurrentRow(1)
    qtbot.keyClick(builder.layer_palette.tree, Qt.Key.Key_Return)
    assert kinds(builder.spec())[2] == "ReLU" and len(builder.spec().layers) == len(SEED_KINDS) + 1


def test_an_architecture_file_dropped_on_the_builder_loads_it(builder, tmp_path):
    from tests.gui.test_main_window import send_drop

    path = tmp_path / "cnn.json"
    path.write_text(PRESETS["small-cnn"].spec.to_json())
    assert send_drop(builder.overview.summary_table, path) == (True, True)
    assert builder.spec() == PRESETS["small-cnn"].spec
    assert send_drop(builder, tmp_path / "model.safetensors") == (False, False)  # left for the main window


def test_a_preset_undo_restores_the_preset_box_and_the_linked_settings(builder):
    settings = {"value": "mine"}
    builder.set_settings_link(lambda: settings["value"], lambda value: settings.update(value=value))
    index = builder.preset_combo.findData("d2l-mlp")
    builder.preset_combo.setCurrentIndex(index)
    builder.preset_combo.activated.emit(index)
    assert settings["value"] == PRESETS["d2l-mlp"].config
    builder.undo_action.trigger()
    assert builder.preset_combo.currentData() == "seed" and settings["value"] == "mine"


def test_locked_the_builder_refuses_edits_and_says_why(qtbot, builder):
    builder.set_locked("A training is using this network.")
    assert builder.lock_label.isVisible() and "training" in builder.lock_label.text()
    before = builder.spec()
    builder.layer_list.view.setCurrentRow(1)
    for button in (
        builder.layer_palette.add_button,
        builder.layer_list.remove_button,
        builder.layer_list.up_button,
        builder.load_button,
    ):
        assert not button.isEnabled()
    builder.add_layer("ReLU")
    assert builder.spec() == before
    builder.set_locked("")
    assert not builder.lock_label.isVisible() and builder.layer_list.remove_button.isEnabled()


def test_a_dark_palette_keeps_icons_and_problem_rows_readable(qtbot, qapp):
    from PySide6.QtGui import QPalette

    from fashion_desktop.gui.app import dark_palette

    original = qapp.palette()
    qapp.setPalette(dark_palette())
    try:
        tab = BuilderTab()
        qtbot.addWidget(tab)
        tab.show()
        tab.remove_layer(8)
        tab.add_layer("Softmax")
        tab.set_loss("cross_entropy")  # a warning row
        row = tab.overview.summary_table.item(8, 0)
        text = QWidget.palette(tab).color(QPalette.ColorRole.Text)
        assert row.background().color().lightness() < 100 < text.lightness()  # light text on a dark row
        icon = tab.undo_button.icon().pixmap(16, 16).toImage()
        alpha_pixels = [icon.pixelColor(x, y) for x in range(16) for y in range(16) if icon.pixelColor(x, y).alpha()]
        assert alpha_pixels and max(c.lightness() for c in alpha_pixels) > 180  # a light arrow on a dark button
        tab.layer_list.view.setCurrentRow(2)
        tab.on_core_ready()  # the ReLU's activation plot
        assert tab.properties._plot.backgroundBrush().color().lightness() < 100
    finally:
        qapp.setPalette(original)
