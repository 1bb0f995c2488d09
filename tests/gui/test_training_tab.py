"""The Training tab on the tiny synthetic data: settings, refusals, a whole run, stop, pause and failures."""

import math
import time
from dataclasses import replace

import numpy as np
import pytest
import torch
from PySide6.QtCore import Qt

from fashion_desktop.core.checkpoint import Checkpoint
from fashion_desktop.core.config import TrainConfig
from fashion_desktop.core.data import load_arrays
from fashion_desktop.core.engine import train as engine_train
from fashion_desktop.core.errors import DataError
from fashion_desktop.core.paths import resolve_runs_path
from fashion_desktop.core.presets import get_preset
from fashion_desktop.core.runs import RunStore
from fashion_desktop.core.spec import CLASS_NAMES, ModelSpec, layer
from fashion_desktop.core.synthetic import write_fashion_mnist
from fashion_desktop.gui.mistakes import TestImage
from fashion_desktop.gui.training import TrainingTab

SEED = get_preset("seed")
FAST = replace(SEED.config, epochs=2, batch_size=32, val_size=50, device="cpu")
BATCHES = math.ceil(250 / 32)  # 300 synthetic training images less 50 for validation
DIVERGING = replace(FAST, optimizer="SGD", lr=100.0, optimizer_options={"momentum": 0.9})


def make_tab(qtbot, fashion_root, config=FAST):
    tab = TrainingTab()
    qtbot.addWidget(tab)  # closes it at the end: closeEvent must stop a running training
    tab.warnings = []
    tab.show_warning = lambda title, message: tab.warnings.append(message)
    tab.set_spec(SEED.spec)
    tab.on_core_ready()
    tab.set_config(config)
    tab.settings.folder_edit.setText(str(fashion_root))
    return tab


@pytest.fixture
def tab(qtbot, fashion_root):
    return make_tab(qtbot, fashion_root)


def train(qtbot, tab):
    """Press Start and wait for the end; returns the FitResult (None after a failure)."""
    with qtbot.waitSignal(tab.training_finished, timeout=60_000) as finished:
        tab.start_button.click()
        assert tab.is_training()
    return finished.args[0]


def start_and_wait_for_batches(qtbot, tab):
    tab.start_button.click()
    qtbot.waitUntil(lambda: tab.batch_plot.points > 0, timeout=30_000)


def test_set_config_then_config_gives_it_back(tab):
    config = TrainConfig(
        epochs=7,
        batch_size=48,
        lr=0.0125,
        loss="label_smoothing",
        loss_options={"smoothing": 0.2},
        optimizer="SGD",
        optimizer_options={"momentum": 0.9, "nesterov": True},
        scheduler="MultiStepLR",
        scheduler_options={"milestones": (2, 4), "gamma": 0.5},
        seed=3,
        device="cpu",
        val_size=1000,
        augment=True,
        early_stopping_patience=3,
        keep_best=True,
    )
    tab.set_config(config)
    assert tab.config() == config
    tab.set_config(FAST)
    assert tab.config() == FAST


def test_the_first_launch_shows_the_seed_recipe_for_the_seed_network(qtbot):
    tab = TrainingTab()  # the test's QSettings are empty, as on a first launch
    qtbot.addWidget(tab)
    assert tab.config() == SEED.config


def test_an_invalid_learning_rate_disables_start_like_an_invalid_network_and_says_why(qtbot, tab):
    tab.show()
    row_top = tab.start_button.mapTo(tab, tab.start_button.rect().topLeft()).y()
    editor = tab.settings.editor("lr")
    editor.selectAll()
    qtbot.keyClicks(editor, "0")
    assert not tab.start_button.isEnabled()  # it was enabled, then answered "Fix these first"
    assert "learning rate must be greater than 0" in tab.problem_label.text()
    assert "learning rate must be greater than 0" in tab.start_button.toolTip()
    qtbot.mouseClick(tab.start_button, Qt.MouseButton.LeftButton)
    assert not tab.is_training()
    editor.setText("fast")
    assert "learning rate must be a number" in tab.problem_label.text() and not tab.start_button.isEnabled()
    # The problem label has its room already: the button row stays where the mouse is.
    assert tab.start_button.mapTo(tab, tab.start_button.rect().topLeft()).y() == row_top
    editor.setText("0.003")
    assert tab.start_button.isEnabled() and tab.problem_label.text() == ""


def test_a_network_that_cannot_train_disables_start_and_says_why(tab):
    assert tab.start_button.isEnabled()
    tab.set_spec(ModelSpec((layer("Flatten"), layer("Linear", out_features=5), layer("LogSoftmax"))))
    assert not tab.start_button.isEnabled()
    assert "10 classes" in tab.problem_label.text()
    tab.set_spec(SEED.spec)
    assert tab.start_button.isEnabled()


@pytest.mark.slow
def test_training_draws_every_batch_and_epoch_and_hands_over_the_model(qtbot, tab, fashion_root):
    models, roots = [], []
    tab.model_ready.connect(models.append)
    tab.data_root_changed.connect(roots.append)
    result = train(qtbot, tab)
    assert result is not None and not result.stopped and not tab.is_training()
    assert len(tab.epoch_plots.epochs) == 2
    assert tab.batch_plot.points == 2 * BATCHES
    # What is drawn, not only what is kept: one point per epoch on each curve, at epochs 1 and 2.
    plots = tab.epoch_plots
    for curve, values in (
        (plots._train, [m.train_loss for m in result.history]),
        (plots._val, [m.val_loss for m in result.history]),
        (plots._accuracy, [100 * m.val_accuracy for m in result.history]),
        (plots._lr, [m.lr for m in result.history]),
    ):
        x, y = curve.getData()
        assert list(x) == [1, 2] and list(y) == pytest.approx(values)
    assert tab.results.confusion_view.total == 100
    assert "Test accuracy" in tab.results.results_label.text()
    assert len(models) == 1 and isinstance(models[0], Checkpoint) and tab.checkpoint() is models[0]
    assert tab.start_button.isEnabled() and tab.settings.isEnabled() and not tab.warnings
    assert roots == [fashion_root]
    # The settings and the data folder of the last run come back in a new tab.
    restored = TrainingTab()
    qtbot.addWidget(restored)
    assert restored.config() == FAST and restored.settings.folder_edit.text() == str(fashion_root)


def test_stop_mid_run_keeps_the_model_trained_so_far(qtbot, fashion_root):
    tab = make_tab(qtbot, fashion_root, replace(FAST, epochs=10_000))
    with qtbot.waitSignal(tab.training_finished, timeout=30_000) as finished:
        start_and_wait_for_batches(qtbot, tab)
        tab.stop_button.click()
    assert finished.args[0].stopped
    assert isinstance(tab.checkpoint(), Checkpoint)
    assert tab.start_button.isEnabled()


@pytest.mark.slow
def test_pause_holds_training_and_resume_finishes_it(qtbot, fashion_root):
    tab = make_tab(qtbot, fashion_root, replace(FAST, epochs=20))
    start_and_wait_for_batches(qtbot, tab)
    tab.pause_button.click()
    assert tab.pause_button.text().replace("&", "") == "Resume"
    assert tab.progress.title() == "Progress: paused" and tab.progress.speed_label.text().startswith("Paused")
    qtbot.wait(200)  # batches already done may still be on their way
    points = tab.batch_plot.points
    qtbot.wait(300)
    assert tab.batch_plot.points == points and tab.is_training()
    with qtbot.waitSignal(tab.training_finished, timeout=60_000) as finished:
        tab.pause_button.click()
    assert not finished.args[0].stopped and len(tab.epoch_plots.epochs) == 20


def test_closing_the_tab_stops_the_training(qtbot, fashion_root):
    tab = make_tab(qtbot, fashion_root, replace(FAST, epochs=10_000))
    start_and_wait_for_batches(qtbot, tab)
    tab.close()
    assert not tab.is_training() and tab.checkpoint() is not None


@pytest.mark.slow
def test_the_tab_never_closes_while_its_thread_runs(qtbot, fashion_root, monkeypatch):
    monkeypatch.setattr("fashion_desktop.gui.training.tab.STOP_TIMEOUT_MS", 0)  # a stop slower than the wait
    tab = make_tab(qtbot, fashion_root, replace(FAST, epochs=10_000))
    tab.show()
    start_and_wait_for_batches(qtbot, tab)
    assert not tab.close()  # refused while the thread runs...
    assert tab.isVisible()
    qtbot.waitUntil(lambda: not tab.isVisible(), timeout=10_000)  # ...and closed once it has stopped
    assert not tab.is_training()


def test_a_failed_run_warns_and_keeps_the_previous_model(qtbot, tab):
    train(qtbot, tab)
    good = tab.checkpoint()
    tab.set_config(DIVERGING)
    assert train(qtbot, tab) is None
    assert len(tab.warnings) == 1 and "learning rate 100 is probably too high" in tab.warnings[0]
    assert tab.checkpoint() is good
    assert tab.start_button.isEnabled() and tab.settings.isEnabled()


def test_a_loss_that_explodes_without_nan_fails_the_run_and_says_so_in_the_results(qtbot, tab):
    tab.set_config(replace(FAST, optimizer="Adam", lr=100.0, optimizer_options={}))
    assert train(qtbot, tab) is None
    assert len(tab.warnings) == 1 and "The loss exploded to" in tab.warnings[0]
    assert "learning rate 100 is probably too high" in tab.results.results_label.text()
    assert tab.checkpoint() is None  # nothing trained: the run never finished an epoch


def test_the_epoch_plots_show_no_negative_epochs_and_a_new_run_starts_from_a_fresh_view(qtbot, fashion_root):
    tab = make_tab(qtbot, fashion_root, replace(FAST, epochs=1))
    train(qtbot, tab)
    plots = tab.epoch_plots
    for plot in (plots.loss_plot, plots.accuracy_plot, plots.lr_plot):
        (x_min, x_max), _ = plot.viewRange()
        assert x_min >= 0 and x_max <= 2  # one epoch: auto-range had shown -2..4
    plots.loss_plot.setYRange(50, 60)  # the last run's range, or a zoom the user left behind
    tab.settings.editor("epochs").setValue(3)
    with qtbot.waitSignal(tab.training_started):
        tab.start_button.click()
    (_, _), (y_min, y_max) = plots.loss_plot.viewRange()
    assert (y_min, y_max) != (50, 60) and plots.loss_plot.vb.autoRangeEnabled()[1]
    qtbot.waitSignal(tab.training_finished, timeout=60_000).wait()
    (x_min, x_max), (y_min, y_max) = plots.loss_plot.viewRange()
    assert x_min >= 0 and x_max <= 4 and y_max < 50


def test_a_continue_failing_before_its_first_epoch_keeps_the_opened_model(qtbot, fashion_root, tmp_path, monkeypatch):
    from fashion_desktop.core.engine import Trainer

    opened = Checkpoint.load(engine_train(SEED.spec, FAST, fashion_root).checkpoint().save(tmp_path / "m.safetensors"))
    tab = make_tab(qtbot, fashion_root, opened.config)
    assert tab.set_checkpoint(opened)
    tab.settings.editor("epochs").setValue(4)

    def unreadable(trainer, root, dataset="fashion-mnist"):
        raise DataError("the training images are damaged")

    monkeypatch.setattr(Trainer, "load_data", unreadable)  # after the trainer has restored the file's state
    with qtbot.waitSignal(tab.training_finished, timeout=30_000):
        tab.continue_button.click()
    assert len(tab.warnings) == 1 and "damaged" in tab.warnings[0]
    assert tab.checkpoint() is opened


def test_the_lr_preview_follows_the_scheduler(qtbot, tab):
    tab.settings.editor("epochs").setValue(10)
    qtbot.waitUntil(lambda: len(tab.settings.lr_preview.rates) == 10)
    assert set(tab.settings.lr_preview.rates) == {FAST.lr}
    tab.settings.editor("scheduler").combo.setCurrentIndex(tab.settings.editor("scheduler").combo.findData("StepLR"))
    qtbot.waitUntil(lambda: len(set(tab.settings.lr_preview.rates)) == 2)
    assert tab.settings.lr_preview.rates[5] == pytest.approx(FAST.lr * 0.1)
    assert tab.settings.lr_preview_note.isHidden()


def test_the_lr_preview_says_a_plateau_schedule_depends_on_the_validation_loss(qtbot, tab):
    tab.show()
    combo = tab.settings.editor("scheduler").combo
    combo.setCurrentIndex(combo.findData("ReduceLROnPlateau"))
    note = tab.settings.lr_preview_note
    qtbot.waitUntil(note.isVisible)  # its flat line said nothing of why it is flat
    assert "validation loss" in note.text()
    assert tab.settings.lr_preview.height() >= 150


def fake_download(monkeypatch, chunks):
    """Replace the network download with one that reports ``chunks`` steps of progress, then writes the files."""

    def download(root, progress=None):
        for done in range(1, chunks + 1):
            progress(done * 1000, chunks * 1000)  # raises once Stop has been pressed
            time.sleep(0.001)
        return write_fashion_mnist(root)

    monkeypatch.setattr("fashion_desktop.core.data.download", download)


def test_download_shows_its_progress_then_the_data_is_there(qtbot, tab, tmp_path, monkeypatch):
    fake_download(monkeypatch, 20)
    messages, formats = [], []
    tab.status_message.connect(messages.append)
    tab.progress.run_bar.valueChanged.connect(lambda value: formats.append(tab.progress.run_bar.text()))
    tab.settings.folder_edit.setText(str(tmp_path))
    tab.settings.download_button.click()
    qtbot.waitUntil(lambda: not tab.is_training())
    assert any(text.startswith("Downloading Fashion-MNIST") for text in formats)
    assert messages[-1] == f"Fashion-MNIST downloaded into {tmp_path}" and not tab.warnings
    assert (tmp_path / "FashionMNIST" / "raw" / "t10k-labels-idx1-ubyte.gz").is_file()


def test_stop_cancels_a_download(qtbot, tab, tmp_path, monkeypatch):
    fake_download(monkeypatch, 100_000)
    tab.settings.folder_edit.setText(str(tmp_path))
    tab.settings.download_button.click()
    qtbot.waitUntil(lambda: tab.progress.run_bar.format().startswith("Downloading"))
    tab.stop_button.click()
    assert tab.wait_for_stop(5_000)
    assert not tab.warnings and not (tmp_path / "FashionMNIST").exists()


def test_a_failed_download_says_where_to_choose_another_folder(qtbot, tab, tmp_path, monkeypatch):
    def download(root, progress=None):
        raise DataError("could not download Fashion-MNIST (no network); choose another data folder")

    monkeypatch.setattr("fashion_desktop.core.data.download", download)
    tab.settings.folder_edit.setText(str(tmp_path))
    tab._ask_download = lambda title, folder: True  # Start asks, then fetches the missing data first
    with qtbot.waitSignal(tab.training_finished, timeout=30_000):
        tab.start_button.click()
    (warning,) = tab.warnings
    assert "could not download" in warning and "Browse... on the Training tab" in warning and "--data" not in warning


def test_download_finds_the_data_already_there(qtbot, tab, fashion_root):
    messages = []
    tab.status_message.connect(messages.append)
    tab.settings.download_button.click()
    qtbot.waitUntil(lambda: not tab.is_training())
    assert messages[-1] == f"Fashion-MNIST is already in {fashion_root}" and not tab.warnings


# -- beyond the anchors: the mistakes gallery, the epoch slider, Continue, the best epoch and the run history --

MISTAKEN = replace(FAST, lr=1e-4)  # two epochs at this rate leave mistakes in the synthetic test set
# SGD this fast overshoots: epoch 1 has the lowest validation loss, so keep-best ends on weights that are not the
# last epoch's, and continuing from them would not replay an uninterrupted run.
OVERSHOOTING = replace(FAST, optimizer="SGD", lr=0.3, optimizer_options={"momentum": 0.9})


def shown_tab(qtbot, fashion_root, config):
    tab = make_tab(qtbot, fashion_root, config)
    tab.resize(1280, 800)
    tab.show()
    qtbot.waitExposed(tab)
    return tab


def click_cell(qtbot, view, row, column):
    """Click a count of the confusion matrix with the mouse, as a user does."""
    item = view.item(row, column)
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=view.visualItemRect(item).center())


def test_clicking_a_confusion_cell_lists_its_test_images_most_confident_first(qtbot, fashion_root):
    tab = shown_tab(qtbot, fashion_root, MISTAKEN)
    result = train(qtbot, tab)
    confusion = result.test.confusion
    count, row, column = max((confusion[i][j], i, j) for i in range(10) for j in range(10) if i != j)
    assert count > 1
    requests = []
    tab.predict_requested.connect(requests.append)
    click_cell(qtbot, tab.results.confusion_view, row, column)
    gallery = tab.results.gallery
    assert gallery is not None and gallery.isVisible() and gallery.cell == (row, column)
    assert gallery.shown == len(gallery.mistakes) == count
    confidences = [m.confidence for m in gallery.mistakes]
    assert confidences == sorted(confidences, reverse=True)
    first = gallery.image_list.item(0)
    lines = first.text().split("\n")
    assert len(lines) == 3 and lines[0].startswith(CLASS_NAMES[column])  # the top-3, the prediction first
    assert f"{count} test images of" in gallery.summary_label.text()
    item = gallery.image_list.item(1)
    qtbot.mouseClick(
        gallery.image_list.viewport(), Qt.MouseButton.LeftButton, pos=gallery.image_list.visualItemRect(item).center()
    )
    assert len(requests) == 1
    chosen = requests[0]
    assert isinstance(chosen, TestImage) and chosen.true_class == row and chosen.index == gallery.mistakes[1].index
    test_images = load_arrays(fashion_root).test_images
    assert chosen.image.dtype == np.uint8 and np.array_equal(chosen.image, test_images[chosen.index])


def test_the_slider_steps_through_each_epochs_validation_matrix_then_the_test_set(qtbot, fashion_root):
    tab = shown_tab(qtbot, fashion_root, FAST)
    result = train(qtbot, tab)
    slider = tab.results.matrix_slider
    assert slider.isVisible() and slider.maximum() == 2 and slider.value() == 2  # epochs 1 and 2, then the test
    for position, metrics in enumerate(result.history):
        slider.setValue(position)
        assert tab.results.confusion_view.total == FAST.val_size
        assert (
            tab.results.confusion_view.confusion == metrics.val_confusion and not tab.results.confusion_view.clickable
        )
        assert tab.results.matrix_label.text().startswith(f"Validation, epoch {position + 1} of 2")
    slider.setValue(2)
    assert tab.results.confusion_view.total == 100 and tab.results.confusion_view.clickable
    assert tab.results.matrix_label.text().startswith("Test set")


def test_continue_trains_on_to_the_same_weights_as_one_straight_run(qtbot, fashion_root):
    tab = make_tab(qtbot, fashion_root, OVERSHOOTING)
    assert not tab.continue_button.isEnabled()
    first = train(qtbot, tab)
    assert first.best_epoch == 1  # so the model ends on epoch 1's weights, but continues from epoch 2's
    assert not tab.continue_button.isEnabled() and "set Epochs above 2" in tab.continue_button.toolTip()
    tab.settings.editor("lr").setText("0.2")
    tab.settings.editor("epochs").setValue(4)
    assert not tab.continue_button.isEnabled() and "learning rate" in tab.continue_button.toolTip()
    tab.settings.editor("lr").setText(str(OVERSHOOTING.lr))
    assert tab.continue_button.isEnabled()
    with qtbot.waitSignal(tab.training_finished, timeout=60_000) as finished:
        tab.continue_button.click()
    result = finished.args[0]
    assert [m.epoch for m in tab.epoch_plots.epochs] == [1, 2, 3, 4]
    assert tab.batch_plot.points == 4 * BATCHES
    straight = engine_train(SEED.spec, replace(OVERSHOOTING, epochs=4), fashion_root)
    assert [m.train_loss for m in result.history] == [m.train_loss for m in straight.history]
    expected, actual = straight.model.state_dict(), tab.checkpoint().weights
    assert all(torch.equal(expected[name], actual[name]) for name in expected)


@pytest.mark.slow
def test_continue_after_a_stop_mid_epoch_replays_the_unfinished_epoch(qtbot, fashion_root):
    tab = make_tab(qtbot, fashion_root, replace(FAST, epochs=10_000))
    with qtbot.waitSignal(tab.training_finished, timeout=30_000):
        tab.start_button.click()
        qtbot.waitUntil(lambda: len(tab.epoch_plots.epochs) >= 1, timeout=30_000)
        tab.stop_button.click()
    done = len(tab.epoch_plots.epochs)
    tab.settings.editor("epochs").setValue(done + 1)
    with qtbot.waitSignal(tab.training_finished, timeout=60_000):
        tab.continue_button.click()
    assert len(tab.epoch_plots.epochs) == done + 1 and tab.batch_plot.points == (done + 1) * BATCHES
    straight = engine_train(SEED.spec, replace(FAST, epochs=done + 1), fashion_root)
    expected, actual = straight.model.state_dict(), tab.checkpoint().weights
    assert all(torch.equal(expected[name], actual[name]) for name in expected)


def test_a_model_opened_from_a_file_can_continue(qtbot, fashion_root, tmp_path):
    trainer = engine_train(SEED.spec, FAST, fashion_root)
    path = trainer.checkpoint().save(tmp_path / "model.safetensors")
    tab = make_tab(qtbot, fashion_root, TrainConfig())
    opened = Checkpoint.load(path)
    tab.set_config(opened.config)  # as the main window does
    assert tab.set_checkpoint(opened)
    assert tab.checkpoint() is opened and [m.epoch for m in tab.epoch_plots.epochs] == [1, 2]
    assert tab.results.confusion_view.total == 100 and "saved" in tab.results.results_label.text()
    assert not tab.continue_button.isEnabled()  # 2 of 2 epochs done
    tab.settings.editor("epochs").setValue(3)
    assert tab.continue_button.isEnabled()
    with qtbot.waitSignal(tab.training_finished, timeout=60_000):
        tab.continue_button.click()
    assert [m.epoch for m in tab.epoch_plots.epochs] == [1, 2, 3] and tab.checkpoint().epoch == 3
    # A file without the optimizer state cannot continue exactly, and the button says why.
    tab.set_checkpoint(replace(opened, optimizer_state=None))
    tab.settings.editor("epochs").setValue(5)
    assert not tab.continue_button.isEnabled() and "optimizer state" in tab.continue_button.toolTip()


def test_an_opened_model_shows_the_images_behind_a_cell(qtbot, fashion_root, tmp_path):
    trainer = engine_train(SEED.spec, MISTAKEN, fashion_root)
    tab = shown_tab(qtbot, fashion_root, MISTAKEN)
    tab.set_checkpoint(Checkpoint.load(trainer.checkpoint().save(tmp_path / "model.safetensors")))
    confusion = trainer.test.confusion
    click_cell(qtbot, tab.results.confusion_view, 9, 8)
    assert tab.results.gallery.shown == confusion[9][8] > 0


def test_the_best_epoch_is_marked_when_keep_best_is_on(qtbot, fashion_root):
    tab = make_tab(qtbot, fashion_root, OVERSHOOTING)
    result = train(qtbot, tab)
    assert result.best_epoch == 1 and tab.epoch_plots.best_epoch == 1
    assert all(line.isVisible() and line.value() == 1 for line in tab.epoch_plots._best_lines.values())
    tab.set_config(replace(OVERSHOOTING, keep_best=False))
    assert train(qtbot, tab).best_epoch is None
    assert tab.epoch_plots.best_epoch is None
    assert not any(line.isVisible() for line in tab.epoch_plots._best_lines.values())


def test_every_run_is_recorded_in_the_run_history(qtbot, tab):
    result = train(qtbot, tab)
    with RunStore(resolve_runs_path()) as store:
        runs = store.list_runs()
    assert len(runs) == 1 and runs[0].status == "finished" and runs[0].epochs_done == 2
    assert runs[0].test_accuracy == result.test.accuracy
    assert tab.runs_panel.model.rowCount() == 1  # refreshed before the run was reported finished


def test_a_damaged_run_history_does_not_stop_training(qtbot, tab, monkeypatch, tmp_path):
    damaged = tmp_path / "damaged.sqlite3"
    damaged.write_bytes(b"not a database" * 100)
    monkeypatch.setenv("FASHION_DESKTOP_RUNS", str(damaged))
    messages = []
    tab.status_message.connect(messages.append)
    shown_while_training = []
    tab.controller.epoch_finished.connect(lambda _: shown_while_training.append(tab.results.results_label.text()))
    result = train(qtbot, tab)
    assert result is not None and result.test is not None and not tab.warnings
    # Said from the start of the run, where it stays (the status line fades), and again with the results.
    assert "this run is not recorded" in shown_while_training[0]
    assert "this run is not recorded" in tab.results.results_label.text()
    assert any("this run is not recorded: the run history" in message for message in messages)
    assert "not recorded" in messages[-1]


@pytest.mark.parametrize(
    ("field", "typed", "words"), [("val_size", "60000", "validation size"), ("batch_size", "100000", "batch size")]
)
def test_a_typed_value_above_the_limit_is_kept_and_refused_not_cut_down(qtbot, tab, field, typed, words):
    editor = tab.settings.editor(field)
    editor.lineEdit().selectAll()
    qtbot.keyClicks(editor, typed)  # a QSpinBox with a 59,000 maximum dropped the last digit: 60000 became 6000
    assert editor.value() == int(typed) and "#d9534f" in editor.styleSheet()
    assert any(words in problem and typed in problem for problem in tab.settings.problems())
    assert not tab.start_button.isEnabled()
    assert any(words in problem for problem in tab.problem_label.text().splitlines())


def test_early_stopping_is_reported_with_its_epoch_and_a_full_run_bar(qtbot, fashion_root):
    tab = make_tab(qtbot, fashion_root, replace(FAST, epochs=200, early_stopping_patience=1))
    result = train(qtbot, tab)
    last = result.history[-1].epoch
    assert last < 200 and not result.stopped
    text = tab.results.results_label.text()
    assert f"stopped early at epoch {last}: no better validation loss for 1 epochs" in text
    assert tab.progress.run_bar.value() == tab.progress.run_bar.maximum()  # not "50 %" of a run that is over
