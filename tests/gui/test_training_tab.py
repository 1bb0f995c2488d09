"""The Training tab on the tiny synthetic data: settings, refusals, a whole run, stop, pause and failures."""

import math
import time
from dataclasses import replace

import pytest

from fashion_desktop.core.checkpoint import Checkpoint
from fashion_desktop.core.config import TrainConfig
from fashion_desktop.core.presets import get_preset
from fashion_desktop.core.spec import ModelSpec, layer
from fashion_desktop.core.synthetic import write_fashion_mnist
from fashion_desktop.gui.training_tab import TrainingTab

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
    tab.folder_edit.setText(str(fashion_root))
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
        epochs=7, batch_size=48, lr=0.0125, loss="label_smoothing", loss_options={"smoothing": 0.2},
        optimizer="SGD", optimizer_options={"momentum": 0.9, "nesterov": True}, scheduler="MultiStepLR",
        scheduler_options={"milestones": (2, 4), "gamma": 0.5}, seed=3, device="cpu", val_size=1000, augment=True,
        early_stopping_patience=3, keep_best=True,
    )  # fmt: skip
    tab.set_config(config)
    assert tab.config() == config
    tab.set_config(FAST)
    assert tab.config() == FAST


def test_a_zero_learning_rate_is_refused_with_a_message(tab):
    tab.lr_edit.setText("0")
    tab.start_button.click()
    assert not tab.is_training()
    assert len(tab.warnings) == 1 and "learning rate must be greater than 0" in tab.warnings[0]
    tab.lr_edit.setText("fast")
    tab.start_button.click()
    assert "learning rate must be a number" in tab.warnings[1] and not tab.is_training()


def test_a_network_that_cannot_train_disables_start_and_says_why(tab):
    assert tab.start_button.isEnabled()
    tab.set_spec(ModelSpec((layer("Flatten"), layer("Linear", out_features=5), layer("LogSoftmax"))))
    assert not tab.start_button.isEnabled()
    assert "10 classes" in tab.problem_label.text()
    tab.set_spec(SEED.spec)
    assert tab.start_button.isEnabled()


def test_training_draws_every_batch_and_epoch_and_hands_over_the_model(qtbot, tab, fashion_root):
    models, roots = [], []
    tab.model_ready.connect(models.append)
    tab.data_root_changed.connect(roots.append)
    result = train(qtbot, tab)
    assert result is not None and not result.stopped and not tab.is_training()
    assert len(tab.epoch_plots.epochs) == 2
    assert tab.batch_plot.points == 2 * BATCHES
    assert tab.confusion_view.total == 100
    assert "Test accuracy" in tab.results_label.text()
    assert len(models) == 1 and isinstance(models[0], Checkpoint) and tab.checkpoint() is models[0]
    assert tab.start_button.isEnabled() and tab.settings_panel.isEnabled() and not tab.warnings
    assert roots == [fashion_root]
    # The settings and the data folder of the last run come back in a new tab.
    restored = TrainingTab()
    qtbot.addWidget(restored)
    assert restored.config() == FAST and restored.folder_edit.text() == str(fashion_root)


def test_stop_mid_run_keeps_the_model_trained_so_far(qtbot, fashion_root):
    tab = make_tab(qtbot, fashion_root, replace(FAST, epochs=10_000))
    with qtbot.waitSignal(tab.training_finished, timeout=30_000) as finished:
        start_and_wait_for_batches(qtbot, tab)
        tab.stop_button.click()
    assert finished.args[0].stopped
    assert isinstance(tab.checkpoint(), Checkpoint)
    assert tab.start_button.isEnabled()


def test_pause_holds_training_and_resume_finishes_it(qtbot, fashion_root):
    tab = make_tab(qtbot, fashion_root, replace(FAST, epochs=20))
    start_and_wait_for_batches(qtbot, tab)
    tab.pause_button.click()
    assert tab.pause_button.text() == "Resume"
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


def test_a_failed_run_warns_and_keeps_the_previous_model(qtbot, tab):
    train(qtbot, tab)
    good = tab.checkpoint()
    tab.set_config(DIVERGING)
    assert train(qtbot, tab) is None
    assert len(tab.warnings) == 1 and "learning rate 100 is probably too high" in tab.warnings[0]
    assert tab.checkpoint() is good
    assert tab.start_button.isEnabled() and tab.settings_panel.isEnabled()


def test_the_lr_preview_follows_the_scheduler(qtbot, tab):
    tab.epochs_spin.setValue(10)
    qtbot.waitUntil(lambda: len(tab.lr_preview.rates) == 10)
    assert set(tab.lr_preview.rates) == {FAST.lr}
    tab.scheduler_editor.combo.setCurrentIndex(tab.scheduler_editor.combo.findData("StepLR"))
    qtbot.waitUntil(lambda: len(set(tab.lr_preview.rates)) == 2)
    assert tab.lr_preview.rates[5] == pytest.approx(FAST.lr * 0.1)


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
    tab.run_bar.valueChanged.connect(lambda value: formats.append(tab.run_bar.text()))
    tab.folder_edit.setText(str(tmp_path))
    tab.download_button.click()
    qtbot.waitUntil(lambda: not tab.is_training())
    assert any(text.startswith("Downloading Fashion-MNIST") for text in formats)
    assert messages[-1] == f"Fashion-MNIST downloaded into {tmp_path}" and not tab.warnings
    assert (tmp_path / "FashionMNIST" / "raw" / "t10k-labels-idx1-ubyte.gz").is_file()


def test_stop_cancels_a_download(qtbot, tab, tmp_path, monkeypatch):
    fake_download(monkeypatch, 100_000)
    tab.folder_edit.setText(str(tmp_path))
    tab.download_button.click()
    qtbot.waitUntil(lambda: tab.run_bar.format().startswith("Downloading"))
    tab.stop_button.click()
    assert tab.wait_for_stop(5_000)
    assert not tab.warnings and not (tmp_path / "FashionMNIST").exists()


def test_download_finds_the_data_already_there(qtbot, tab, fashion_root):
    messages = []
    tab.status_message.connect(messages.append)
    tab.download_button.click()
    qtbot.waitUntil(lambda: not tab.is_training())
    assert messages[-1] == f"Fashion-MNIST is already in {fashion_root}" and not tab.warnings
