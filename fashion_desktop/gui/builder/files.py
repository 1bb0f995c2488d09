"""Architecture files: a network saved as JSON, chosen in a file dialog or dropped on the tab."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtGui import QDragEnterEvent, QDragMoveEvent, QDropEvent
from PySide6.QtWidgets import QFileDialog, QMessageBox, QWidget

from fashion_desktop.core.errors import SpecError
from fashion_desktop.core.files import MAX_SPEC_BYTES, read_text
from fashion_desktop.core.spec import ModelSpec
from fashion_desktop.gui.forms import remember_folder, remembered_folder

SPEC_FILTER = "Network architectures (*.json);;All files (*)"


def save_architecture_as(parent: QWidget, spec: ModelSpec) -> Path | None:
    """Ask for a file name and write ``spec`` as JSON; returns the file, or None if cancelled or not written."""
    default = str(Path(remembered_folder("architectures")) / "network.json")
    name, _ = QFileDialog.getSaveFileName(parent, "Save architecture", default, SPEC_FILTER)
    if not name:
        return None
    path = Path(name).with_suffix(".json") if not Path(name).suffix else Path(name)
    remember_folder("architectures", path)
    from fashion_desktop.core.files import atomic_write

    try:
        atomic_write(path, spec.to_json().encode())
    except OSError as error:
        QMessageBox.critical(parent, "Cannot save the architecture", f"Cannot write {path}: {error.strerror}")
        return None
    return path


def ask_architecture_file(parent: QWidget) -> Path | None:
    """Ask for a JSON file to load; None if cancelled."""
    name, _ = QFileDialog.getOpenFileName(parent, "Load architecture", remembered_folder("architectures"), SPEC_FILTER)
    return Path(name) if name else None


def read_architecture(parent: QWidget, path: Path) -> ModelSpec | None:
    """The network in a JSON file; None, once a message has said why, for a file that is not one."""
    remember_folder("architectures", path)
    try:
        return ModelSpec.from_json(read_text(path, MAX_SPEC_BYTES, "an architecture file", SpecError))
    except OSError as error:
        QMessageBox.critical(parent, "Cannot load the architecture", f"Cannot read {path}: {error.strerror}")
    except (SpecError, TypeError, ValueError) as error:  # ValueError: not UTF-8, or a value of the wrong type
        QMessageBox.critical(
            parent, "Cannot load the architecture", f"{path.name} is not a network saved by Fashion Desktop: {error}"
        )
    return None


def architecture_files(event: QDragEnterEvent | QDragMoveEvent | QDropEvent) -> list[Path]:
    """The JSON files a drag brings, which the tab loads; anything else goes on to the main window."""
    mime = event.mimeData()
    if not mime.hasUrls():
        return []
    paths = [Path(url.toLocalFile()) for url in mime.urls() if url.isLocalFile()]
    return [path for path in paths if path.suffix.lower() == ".json"]
