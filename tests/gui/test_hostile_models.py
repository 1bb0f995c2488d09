"""File > Open with tampered model files: one clear message, nothing half-updated, and a good file still opens."""

import json

import pytest
from PySide6.QtWidgets import QMessageBox

from fashion_desktop.core.builder import build_model
from fashion_desktop.core.checkpoint import Checkpoint
from fashion_desktop.core.presets import PRESETS
from fashion_desktop.gui.main_window import MainWindow
from tests.gui.test_main_window import answer_file_dialogs

D2L = PRESETS["d2l-mlp"]


@pytest.fixture
def messages(monkeypatch) -> list[tuple[str, str]]:
    shown: list[tuple[str, str]] = []
    for kind in ("critical", "warning", "information"):
        monkeypatch.setattr(QMessageBox, kind, lambda parent, title, text, *args, kind=kind: shown.append((kind, text)))
    return shown


@pytest.fixture
def window(qtbot) -> MainWindow:
    main = MainWindow()
    qtbot.addWidget(main)
    main.show()
    main.on_core_ready()
    return main


def _tampered(tmp_path, **metadata_changes):
    from safetensors import safe_open
    from safetensors.torch import save_file

    good = Checkpoint(D2L.spec, build_model(D2L.spec).state_dict(), config=D2L.config).save(
        tmp_path / "good.safetensors"
    )
    with safe_open(good, "pt") as file:
        tensors = {k: file.get_tensor(k) for k in file.keys()}
        metadata = {**file.metadata(), **metadata_changes}
    path = tmp_path / "tampered.safetensors"
    save_file(tensors, path, metadata=metadata)
    return good, path


CASES = [
    {"best_epoch": "999"},
    {"epoch": "-5"},
    {"format_version": "²"},
    {"config": json.dumps({**D2L.config.to_dict(), "batch_size": "64\n__import__('os').system('id')  #"})},
    {"config": json.dumps({**D2L.config.to_dict(), "lr": "0.01"})},
    {"class_names": json.dumps([1] * 10)},
]


@pytest.mark.parametrize("changes", CASES)
def test_a_tampered_model_changes_nothing_and_a_good_one_opens_after_it(
    window, tmp_path, monkeypatch, messages, changes
):
    window.builder.load_preset("small-cnn")
    good, tampered = _tampered(tmp_path, **changes)
    answer_file_dialogs(monkeypatch, tampered)
    window.open_action.trigger()
    assert [kind for kind, _ in messages] == ["critical"] and "tampered.safetensors" in messages[0][1]
    assert window.builder.spec() == PRESETS["small-cnn"].spec and window._opened is None
    answer_file_dialogs(monkeypatch, good)
    window.open_action.trigger()
    assert len(messages) == 1 and window.builder.spec() == D2L.spec
