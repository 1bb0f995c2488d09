"""Continue in the Training tab goes on in the run it came from, and the Runs tab shows one row for it."""

from dataclasses import replace

import pytest

from fashion_desktop.core.checkpoint import Checkpoint
from fashion_desktop.core.engine import train as engine_train
from fashion_desktop.core.presets import get_preset
from fashion_desktop.gui.runs_panel import EPOCHS, NAME, STATUS
from fashion_desktop.gui.training import TrainingTab

SEED = get_preset("seed")
FAST = replace(SEED.config, epochs=1, batch_size=64, val_size=50, device="cpu")


@pytest.fixture
def tab(qtbot, fashion_root):
    tab = TrainingTab()
    qtbot.addWidget(tab)
    tab.show_warning = lambda title, message: pytest.fail(message)
    tab.set_spec(SEED.spec)
    tab.on_core_ready()
    tab.set_config(FAST)
    tab.settings.folder_edit.setText(str(fashion_root))
    return tab


def press(qtbot, button, tab):
    with qtbot.waitSignal(tab.training_finished, timeout=60_000):
        button.click()


def rows(panel):
    panel.refresh()
    model = panel.proxy
    return [
        tuple(model.index(row, column).data() for column in (NAME, STATUS, EPOCHS)) for row in range(model.rowCount())
    ]


@pytest.mark.slow
def test_continue_extends_its_run_in_the_history(qtbot, tab):
    press(qtbot, tab.start_button, tab)
    assert rows(tab.runs_panel) == [("seed · Adam · 1", "finished", "1/1")]
    tab.settings.editor("epochs").setValue(3)
    press(qtbot, tab.continue_button, tab)
    # One row, its epochs 1 to 3, not a second row repeating epoch 1.
    assert rows(tab.runs_panel) == [("seed · Adam · 1", "finished", "3/3")]
    (run,) = tab.runs_panel.store.list_runs()
    assert [m.epoch for m in tab.runs_panel.store.epochs(run.id)] == [1, 2, 3]
    assert run.test_accuracy == tab.checkpoint().test.accuracy and run.config.epochs == 3
    tab.runs_panel.select_runs([run.id])
    x, _ = tab.runs_panel.curves.accuracy_curves[0].getData()
    assert list(x) == [1, 2, 3]
    # Both files the run trained into are its own: deleting the run offers both.
    assert len(tab.runs_panel.store.checkpoint_files([run.id])) == 2


@pytest.mark.slow
def test_continuing_a_model_from_a_file_the_history_does_not_know_is_a_new_run(qtbot, tab, fashion_root, tmp_path):
    path = engine_train(SEED.spec, FAST, fashion_root).checkpoint().save(tmp_path / "shared.safetensors")
    opened = Checkpoint.load(path)
    tab.set_config(opened.config)
    assert tab.set_checkpoint(opened)
    tab.settings.editor("epochs").setValue(2)
    press(qtbot, tab.continue_button, tab)
    # Its epoch 1 was trained elsewhere: the new run records it too, so its curves start at epoch 1.
    assert rows(tab.runs_panel) == [("seed · Adam · 1", "finished", "2/2")]
