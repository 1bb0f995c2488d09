"""How long the Predict tab takes from a dropped image to its probabilities on screen.

Run: ``python -m fashion_desktop.gui.predictbench``.

Uses an untrained seed network (prediction costs the same whatever the weights), a 1000x1000 JPEG photo and a
28x28 PNG, and reports the median of 20 drops, each into an emptied list, after two warm-up drops.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter
from PySide6.QtCore import QMimeData, QPoint, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication

from fashion_desktop.gui.predict_tab import PredictTab

ROUNDS = 20
WARM_UP = 2


def main() -> None:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # read when the application starts, not on import
    app = QApplication.instance() or QApplication([])
    # Imported here, as the app does after its first paint: importing the gui package must not load torch
    import torch

    from fashion_desktop.core.builder import build_model
    from fashion_desktop.core.checkpoint import Checkpoint
    from fashion_desktop.core.presets import get_preset
    from fashion_desktop.core.runtime import configure_threads, keep_this_thread_on_one_core

    configure_threads()  # as the app does: the GUI thread, which predicts, keeps to one core
    keep_this_thread_on_one_core()
    threads = torch.get_num_threads()
    spec = get_preset("seed").spec
    tab = PredictTab()
    tab.resize(1280, 800)
    tab.show()
    tab.set_model(Checkpoint(spec, build_model(spec, seed=0).state_dict()))
    app.processEvents()
    print(f"Drop to probabilities painted, seed network, {threads} torch thread(s), median of {ROUNDS} drops:")
    with tempfile.TemporaryDirectory() as folder:
        for label, path in _test_images(Path(folder)).items():
            handled, painted = zip(*(_time_drop(app, tab, path) for _ in range(WARM_UP + ROUNDS)), strict=True)
            print(
                f"  {label:<22} {statistics.median(handled[WARM_UP:]):6.1f} ms handled, "
                f"{statistics.median(painted[WARM_UP:]):6.1f} ms painted"
            )
    tab.close()


def _test_images(folder: Path) -> dict[str, Path]:
    """A noisy 1000x1000 product photo (JPEG) and a 28x28 Fashion-MNIST-like PNG."""
    photo = Image.new("RGB", (1000, 1000), (236, 232, 228))
    ImageDraw.Draw(photo).polygon(
        [(300, 150), (700, 150), (900, 330), (780, 400), (740, 850), (260, 850), (220, 400), (100, 330)],
        fill=(70, 60, 90),
    )
    noise = np.random.default_rng(0).normal(0, 6, (1000, 1000, 3))
    photo = Image.fromarray(np.clip(np.asarray(photo) + noise, 0, 255).astype(np.uint8)).filter(ImageFilter.SMOOTH)
    paths = {"1000x1000 JPEG photo": folder / "photo.jpg", "28x28 PNG": folder / "small.png"}
    photo.save(paths["1000x1000 JPEG photo"], quality=90)
    photo.resize((28, 28), Image.Resampling.LANCZOS).convert("L").save(paths["28x28 PNG"])
    return paths


def _time_drop(app: QApplication, tab: PredictTab, path: Path) -> tuple[float, float]:
    """Milliseconds until the drop is handled and until the tab has painted the result."""
    tab.clear_button.click()
    app.processEvents()
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    position = QPoint(tab.width() // 2, tab.height() // 2)
    buttons, modifiers = Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
    started = time.perf_counter()
    app.sendEvent(tab, QDragEnterEvent(position, Qt.DropAction.CopyAction, mime, buttons, modifiers))
    app.sendEvent(tab, QDropEvent(position, Qt.DropAction.CopyAction, mime, buttons, modifiers))
    handled = time.perf_counter()
    app.processEvents()  # runs the paint of everything the drop changed
    painted = time.perf_counter()
    if sum(tab.chart.probabilities) < 0.99:
        raise RuntimeError(f"{path.name} was not classified")
    return (handled - started) * 1000, (painted - started) * 1000


if __name__ == "__main__":
    main()
