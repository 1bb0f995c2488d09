"""The loss picker says in plain words what each loss does: under the picker and as each choice's tooltip."""

from PySide6.QtCore import Qt

from fashion_desktop.core.config import LOSS_LABELS, LOSS_NOTES, TrainConfig
from fashion_desktop.gui.training import TrainingTab


def test_choosing_a_loss_shows_its_note_and_each_item_has_it_as_tooltip(qtbot):
    tab = TrainingTab()
    qtbot.addWidget(tab)
    loss_editor = tab.settings.editor("loss")
    combo = loss_editor.combo
    for index in range(combo.count()):
        name = combo.itemData(index)
        assert combo.itemText(index) == LOSS_LABELS[name]
        assert combo.itemData(index, Qt.ItemDataRole.ToolTipRole) == LOSS_NOTES[name]
    combo.setCurrentIndex(combo.findData("mse"))
    assert loss_editor.note.text() == LOSS_NOTES["mse"] and tab.config().loss == "mse"
    tab.set_config(TrainConfig(loss="bce"))  # a config set from outside (a model opened) shows its note too
    assert loss_editor.note.text() == LOSS_NOTES["bce"]
