"""The Training tab's data section: image folders, their classes and preview, training on them, the Builder
following the data, starting from a model's weights, and asking before a download."""

from dataclasses import replace
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings, Qt
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import QFileDialog

from fashion_desktop.core.checkpoint import Checkpoint
from fashion_desktop.core.engine import train as engine_train
from fashion_desktop.core.errors import DataError
from fashion_desktop.core.presets import get_preset
from fashion_desktop.core.spec import layer
from fashion_desktop.gui.main_window import MainWindow
from fashion_desktop.gui.training import TrainingTab
from tests.core.test_folders import make_classes

SEED = get_preset("seed")
FAST = replace(SEED.config, epochs=1, batch_size=8, val_size=50, device="cpu")
THREE_WAY = SEED.spec.with_layers((*SEED.spec.layers[:-2], layer("Linear", out_features=3), layer("LogSoftmax")))
CLASSES = {"boots": 8, "dresses": 7, "shirts": 6}


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    """The import cache (platformdirs' user cache) in tmp_path, never the developer's own."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


@pytest.fixture
def photos(tmp_path) -> Path:
    """Three classes of small synthetic photos, one subfolder each."""
    root = tmp_path / "photos"
    make_classes(root, CLASSES)
    return root


def make_tab(qtbot, spec=THREE_WAY):
    tab = TrainingTab()
    qtbot.addWidget(tab)
    tab.warnings = []
    tab.show_warning = lambda title, message: tab.warnings.append(message)
    tab.set_spec(spec)
    tab.on_core_ready()
    tab.set_config(FAST)
    return tab


def choose_folder(qtbot, data, folder: Path, monkeypatch) -> None:
    """Pick "Image folder", then the folder through the Browse... button, and wait until it is read."""
    data.dataset_combo.setCurrentIndex(data.dataset_combo.findData("folder"))
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *args, **kwargs: str(folder))
    data.images_button.click()
    qtbot.waitUntil(lambda: not data.is_scanning(), timeout=30_000)


@pytest.mark.slow
def test_an_image_folder_shows_its_classes_and_samples_then_trains_a_model_with_its_class_names(
    qtbot, photos, monkeypatch
):
    tab = make_tab(qtbot)
    data = tab.settings.data
    assert not data.folder_panel.isVisibleTo(tab)
    choose_folder(qtbot, data, photos, monkeypatch)
    table = data.class_table
    assert [table.item(row, 0).text() for row in range(table.rowCount())] == list(CLASSES)
    assert [int(table.item(row, 1).text()) for row in range(table.rowCount())] == list(CLASSES.values())
    strips = [table.item(row, 2).data(Qt.ItemDataRole.DecorationRole) for row in range(table.rowCount())]
    assert all(isinstance(strip, QPixmap) and not strip.isNull() for strip in strips)  # the framed samples
    assert "3 classes, 21 images" in data.status_label.text() and "ready to train" in data.status_label.text()
    assert not tab.settings.folder_edit.isVisibleTo(tab)  # the Fashion-MNIST folder is not this run's
    assert tab.start_button.isEnabled(), tab.problem_label.text()

    shown, requests = [], []
    tab.controller.import_progress.connect(lambda progress: shown.append(tab.progress.run_bar.format()))
    start = tab.controller.start_training
    monkeypatch.setattr(tab.controller, "start_training", lambda request: (requests.append(request), start(request)))
    with qtbot.waitSignal(tab.training_finished, timeout=60_000) as finished:
        tab.start_button.click()
    assert finished.args[0] is not None and not tab.warnings, tab.warnings
    assert shown and shown[-1] == "Preparing photos 21/21"
    (request,) = requests
    assert request.dataset == "folder" and request.images == photos and request.framing.size == 28
    assert tab.checkpoint().class_names == tuple(CLASSES) and tab.checkpoint().data["dataset"] == "folder"
    assert Checkpoint.load(request.model_path).class_names == tuple(CLASSES)  # the model file keeps them
    matrix = tab.results.confusion_view  # the test matrix is of the folder's classes, by name
    assert matrix.class_names == tuple(CLASSES) and (matrix.rowCount(), matrix.columnCount()) == (3, 4)
    assert matrix.verticalHeaderItem(0).text() == f"0  {next(iter(CLASSES))}"
    assert matrix.total == sum(map(sum, tab.checkpoint().test.confusion)) > 0
    data.dataset_combo.setCurrentIndex(data.dataset_combo.findData("mnist"))
    assert matrix.class_names == tuple(CLASSES) and matrix.total > 0  # a run's counts keep their own classes


def test_the_empty_confusion_matrix_names_the_classes_of_the_data_chosen(qtbot, photos, monkeypatch):
    tab = make_tab(qtbot)
    data, matrix = tab.settings.data, tab.results.confusion_view
    assert matrix.class_names[0] == "T-shirt/top" and matrix.rowCount() == 10
    choose_folder(qtbot, data, photos, monkeypatch)
    assert matrix.class_names == tuple(CLASSES) and (matrix.rowCount(), matrix.columnCount()) == (3, 4)
    assert matrix.verticalHeaderItem(2).text() == "2  shirts" and matrix.confusion is None
    data.dataset_combo.setCurrentIndex(data.dataset_combo.findData("kmnist"))
    assert matrix.class_names[:3] == ("o", "ki", "su") and matrix.rowCount() == 10
    data.dataset_combo.setCurrentIndex(data.dataset_combo.findData("mnist"))
    assert matrix.class_names == tuple("0123456789")


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (lambda root: (root / "loose.png").write_bytes(b""), "has no class subfolders"),
        (lambda root: make_classes(root, {"shirts": 3}), "holds a single class folder (shirts)"),
        (lambda root: (make_classes(root, {"shirts": 3}), (root / "shoes").mkdir()), "holds no images"),
    ],
    ids=["no-classes", "one-class", "empty-class"],
)
def test_a_bad_folder_shows_the_cores_message_and_start_says_why_it_is_disabled(
    qtbot, tmp_path, monkeypatch, make, words
):
    root = tmp_path / "bad"
    root.mkdir()
    make(root)
    tab = make_tab(qtbot)
    data = tab.settings.data
    choose_folder(qtbot, data, root, monkeypatch)
    assert words in data.message_label.text() and data.message_label.isVisibleTo(tab)
    assert not data.class_table.isVisibleTo(tab)
    assert not tab.start_button.isEnabled() and words in tab.start_button.toolTip()
    assert words in tab.problem_label.text()


@pytest.mark.slow
def test_skipped_files_are_counted_and_listed_when_expanded(qtbot, photos, monkeypatch):
    (photos / "shirts" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    tab = make_tab(qtbot)
    data = tab.settings.data
    choose_folder(qtbot, data, photos, monkeypatch)
    assert data.skipped_button.isVisibleTo(tab) and data.skipped_button.text() == "1 file skipped"
    assert not data.skipped_list.isVisibleTo(tab)
    data.skipped_button.click()
    assert data.skipped_list.isVisibleTo(tab) and "broken.png" in data.skipped_list.item(0).text()


@pytest.mark.slow
def test_the_builder_checks_the_network_against_the_folders_classes_and_input(qtbot, photos, monkeypatch, fashion_root):
    window = MainWindow()
    qtbot.addWidget(window)
    window.on_core_ready()
    window.builder.load_preset("seed")
    data = window.training.settings.data
    choose_folder(qtbot, data, photos, monkeypatch)
    problems = window.builder.overview.problems_label.text()
    assert "the data has 3 classes" in problems.lower() or "3 classes" in problems
    assert "out_features 3" in problems
    assert not window.training.start_button.isEnabled()

    data.size_combo.setCurrentIndex(data.size_combo.findData(64))
    data.color_check.setChecked(True)
    assert window.builder.spec().input_shape == (3, 64, 64)
    assert window.training.data_shape()[0] == (3, 64, 64)
    qtbot.waitUntil(lambda: not data.is_scanning(), timeout=30_000)
    window.builder.load_preset("photo-cnn")  # a preset picked for the folder ends in one output per class
    photo_cnn = window.builder.spec()
    assert photo_cnn.input_shape == (3, 64, 64) and photo_cnn.summary().rows[-1].output_shape == (3,)
    assert "The network can train" in window.builder.overview.problems_label.text()
    assert window.training.start_button.isEnabled(), window.training.problem_label.text()

    data.dataset_combo.setCurrentIndex(data.dataset_combo.findData("fashion-mnist"))
    assert window.builder.spec().input_shape == (1, 28, 28)  # back on Fashion-MNIST's input
    assert "10 classes" in window.builder.overview.problems_label.text()


@pytest.mark.slow
def test_stop_during_the_import_cancels_it(qtbot, tmp_path, monkeypatch):
    root = tmp_path / "many"
    make_classes(root, {"a": 150, "b": 150, "c": 150}, size=(300, 400))
    tab = make_tab(qtbot)
    data = tab.settings.data
    data.dataset_combo.setCurrentIndex(data.dataset_combo.findData("folder"))
    data.images_edit.setText(str(root))
    data.scan()
    qtbot.waitUntil(lambda: tab.start_button.isEnabled(), timeout=30_000)  # the classes are known
    formats = []
    tab.controller.import_progress.connect(lambda progress: formats.append(progress.done))
    with qtbot.waitSignal(tab.training_finished, timeout=60_000) as finished:
        tab.start_button.click()
        qtbot.waitUntil(lambda: bool(formats), timeout=30_000)
        tab.stop_button.click()
    assert finished.args[0] is None and tab.checkpoint() is None and not tab.warnings
    assert formats[-1] < 450 and tab.start_button.isEnabled()


@pytest.mark.slow
def test_start_from_a_model_copies_its_fitting_weights_and_says_so(qtbot, photos, monkeypatch, tmp_path, fashion_root):
    source = engine_train(SEED.spec, replace(FAST, val_size=50), fashion_root).checkpoint()
    path = source.save(tmp_path / "fashion.safetensors")
    tab = make_tab(qtbot)
    data = tab.settings.data
    choose_folder(qtbot, data, photos, monkeypatch)
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *args, **kwargs: (str(path), ""))
    data.init_row.choose_button.click()
    assert data.init_row.label.text() == "fashion.safetensors" and data.init_row.clear_button.isEnabled()
    with qtbot.waitSignal(tab.training_finished, timeout=60_000):
        tab.start_button.click()
    note = tab.results.results_label.text()
    assert "started from the weights from fashion.safetensors" in note and "re-initialised" in note
    data.init_row.clear_button.click()
    assert data.init_from() == (None, "")


@pytest.mark.slow
def test_the_data_choices_are_remembered(qtbot, photos, monkeypatch):
    tab = make_tab(qtbot)
    data = tab.settings.data
    choose_folder(qtbot, data, photos, monkeypatch)
    data.size_combo.setCurrentIndex(data.size_combo.findData(48))
    data.color_check.setChecked(True)
    data.framing_combo.setCurrentIndex(2)
    tab.save_settings()
    assert QSettings().value("data/dataset") == "folder"
    again_tab = make_tab(qtbot)  # kept: a tab collected while its folder scan runs would take a running QThread
    again = again_tab.settings.data
    assert again.dataset() == "folder" and again.images() == photos
    assert again.framing() == replace(data.framing()) and again.framing().size == 48 and again.framing().color
    qtbot.waitUntil(lambda: not again.is_scanning() and not data.is_scanning(), timeout=30_000)


def test_start_asks_before_downloading_and_a_failed_download_leaves_nothing_and_keeps_the_model(
    qtbot, fashion_root, tmp_path, monkeypatch
):
    opened = engine_train(SEED.spec, replace(FAST, val_size=50), fashion_root).checkpoint()
    tab = make_tab(qtbot, SEED.spec)
    assert tab.set_checkpoint(opened)
    shown = tab.results.results_label.text()
    empty = tmp_path / "empty"
    empty.mkdir()
    tab.settings.folder_edit.setText(str(empty))
    asked = []
    tab._ask_download = lambda title, folder: asked.append((title, folder)) or False
    tab.start_button.click()
    assert asked == [("Fashion-MNIST", empty)] and not tab.is_training() and list(empty.iterdir()) == []

    def offline(root, progress=None):
        (Path(root) / "FashionMNIST" / "raw").mkdir(parents=True)  # as the real download does first
        raise DataError("could not download Fashion-MNIST (no internet connection)")

    monkeypatch.setattr("fashion_desktop.core.data.download", offline)
    tab._ask_download = lambda title, folder: True
    with qtbot.waitSignal(tab.training_finished, timeout=30_000):
        tab.start_button.click()
    (warning,) = tab.warnings
    assert "could not download" in warning
    assert list(empty.iterdir()) == []  # no empty FashionMNIST/raw/ left behind
    assert tab.checkpoint() is opened and tab.results.results_label.text() == shown
    assert len(tab.epoch_plots.epochs) == len(opened.history)


@pytest.mark.slow
def test_opening_a_folder_model_shows_its_data_and_the_builder_keeps_its_input(qtbot, tmp_path):
    from fashion_desktop.core.builder import build_model

    spec = replace(THREE_WAY, input_shape=(3, 32, 32))
    data = {"dataset": "folder", "size": 32, "color": True, "framing": "whole", "separation": "none"}
    path = Checkpoint(spec, build_model(spec, seed=0).state_dict(), class_names=("a", "b", "c"), data=data).save(
        tmp_path / "photos.safetensors"
    )
    window = MainWindow()
    qtbot.addWidget(window)
    window.on_core_ready()
    assert window.open_model(path)
    section = window.training.settings.data
    assert section.dataset() == "folder" and section.framing().size == 32 and section.framing().color
    assert section.framing().framing == "whole"
    assert window.builder.spec() == spec  # the opened network, not one refitted to the data shown before
    assert "belongs to this network" in window.builder.model_note.text()
