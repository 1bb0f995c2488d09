"""``fashion-desktop --self-test``: check an installation or a bundle end to end, headlessly.

Prints one line per check and returns non-zero if any check fails, so CI can run it on the built bundle.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fashion_desktop.gui.plots.epochs import EpochPlots

CORE_LOAD_TIMEOUT_MS = 120_000  # the window must hear from the CoreLoader within this


def run_self_test() -> int:
    if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    work = Path(tempfile.mkdtemp(prefix="fashion-desktop-self-test-"))
    state: dict[str, object] = {}
    checks: list[tuple[str, Callable[[], str]]] = [
        ("torch and torchvision import", lambda: _versions(state)),
        ("torchvision compiled ops load", _torchvision_ops),
        ("seed network builds", lambda: _build(state)),
        ("one epoch trains on synthetic data", lambda: _train(state, work)),
        ("model file saves and reloads", lambda: _save_and_load(state, work)),
        ("bundled sample image is classified", lambda: _predict(state)),
        ("garment separation (OpenCV GrabCut) finds a garment", _separate),
        ("main window opens and renders", lambda: _window(work)),
    ]
    failures = 0
    print(f"Fashion Desktop self-test ({'bundle' if getattr(sys, 'frozen', False) else 'source'}, {sys.platform})")
    for name, check in checks:
        started = time.perf_counter()
        try:
            detail = check()
            print(f"  ok    {name}: {detail} ({time.perf_counter() - started:.1f} s)", flush=True)
        except Exception as error:  # a self-test reports every failure and carries on
            failures += 1
            print(f"  FAIL  {name}: {type(error).__name__}: {error}", flush=True)
            traceback.print_exc(limit=3)
    print("all checks passed" if not failures else f"{failures} check(s) failed", flush=True)
    return 1 if failures else 0


def _versions(state: dict[str, object]) -> str:
    import torch
    import torchvision

    from fashion_desktop.core.runtime import configure_threads, describe_device, pick_device

    configure_threads()
    state["device"] = pick_device("auto")
    device = describe_device(state["device"])  # type: ignore[arg-type]
    return f"torch {torch.__version__}, torchvision {torchvision.__version__}, device {device}"


def _torchvision_ops() -> str:
    import torch
    import torchvision

    boxes = torch.tensor([[0.0, 0.0, 10.0, 10.0], [1.0, 1.0, 11.0, 11.0], [50.0, 50.0, 60.0, 60.0]])
    kept = torchvision.ops.nms(boxes, torch.tensor([0.9, 0.8, 0.7]), iou_threshold=0.5)
    if kept.tolist() != [0, 2]:
        raise RuntimeError(f"torchvision.ops.nms returned {kept.tolist()}, expected [0, 2]")
    return "torchvision::nms runs"


def _build(state: dict[str, object]) -> str:
    from fashion_desktop.core.presets import get_preset

    spec = get_preset("seed").spec
    total = spec.summary().total
    if total != 235_146:
        raise RuntimeError(f"the seed network has {total:,} parameters, expected 235,146")
    state["spec"] = spec
    return f"{total:,} parameters"


def _train(state: dict[str, object], work: Path) -> str:
    """One epoch through the training session the app and ``train`` use, saving its model file every epoch."""
    from dataclasses import replace

    from fashion_desktop.core.presets import get_preset
    from fashion_desktop.core.session import TrainingRequest, run_training
    from fashion_desktop.core.synthetic import write_fashion_mnist

    preset = get_preset("seed")
    root = write_fashion_mnist(work / "data", train=600, test=200)
    config = replace(preset.config, epochs=1, val_size=100, device=str(state["device"]))
    request = TrainingRequest(preset.spec, config, root, record=False, model_path=work / "model.safetensors")
    outcome = run_training(request)
    if outcome.error is not None:
        raise outcome.error
    assert outcome.result is not None and outcome.result.test is not None and outcome.checkpoint is not None
    state["checkpoint"] = outcome.checkpoint
    state["model_path"] = outcome.model_path
    result = outcome.result
    return f"train loss {result.history[0].train_loss:.3f}, test accuracy {result.test.accuracy:.2f} on {config.device}"


def _save_and_load(state: dict[str, object], work: Path) -> str:
    """The model file the session saved holds the weights it trained."""
    import torch

    from fashion_desktop.core.checkpoint import Checkpoint

    path = state["model_path"]
    assert isinstance(path, Path)
    model = Checkpoint.load(path).build_model()
    expected = state["checkpoint"].weights  # type: ignore[attr-defined]
    if not all(torch.equal(v.cpu(), expected[k].cpu()) for k, v in model.state_dict().items()):
        raise RuntimeError("the reloaded weights differ from the saved ones")
    return f"{path.stat().st_size / 1e6:.1f} MB"


def _predict(state: dict[str, object]) -> str:
    from fashion_desktop.core.inference import Predictor
    from fashion_desktop.resources import resource_path

    prediction = Predictor.from_file(state["model_path"]).predict(resource_path("samples", "ankle_boot.png"))  # type: ignore[arg-type]
    if abs(sum(prediction.probabilities) - 1) > 1e-4 or prediction.seen.shape != (28, 28):
        raise RuntimeError(f"bad prediction: {prediction.probabilities}")
    # The model has seen one epoch of synthetic images, so the class it picks says nothing about the bundle.
    return (
        f"ankle_boot.png -> 10 probabilities summing to 1, 28x28 input (top: {prediction.top_class}, from a "
        "model trained on synthetic data)"
    )


def _separate() -> str:
    """GrabCut on a made-up photo (a bright shirt on a striped floor): the bundle must carry a working OpenCV."""
    import numpy as np

    from fashion_desktop.core.segment import separate

    photo = np.zeros((200, 160, 3), dtype=np.uint8)
    photo[:, :] = (90, 60, 40)
    photo[::8] = (130, 100, 70)  # floor boards
    photo[40:170, 35:125] = (235, 220, 60)  # the garment
    found = separate(photo, "grabcut")
    if found.method != "grabcut":
        raise RuntimeError(f"GrabCut found no garment and fell back to {found.method!r}")
    share = float(found.mask.mean())
    if not 0.2 < share < 0.6:  # the garment covers 36 % of the photo
        raise RuntimeError(f"the garment mask covers {share:.0%} of the photo, not about 36 %")
    return f"garment mask covers {share:.0%} of a test photo (36 % expected)"


def _window(work: Path) -> str:
    """Open the main window and load the core as the app does, on its CoreLoader thread, then draw it."""
    from PySide6.QtCore import QEvent, QEventLoop, QSettings, QTimer
    from PySide6.QtWidgets import QApplication

    from fashion_desktop.gui.app import load_core_in_background
    from fashion_desktop.gui.main_window import MainWindow

    app = QApplication.instance() or QApplication([])
    # The window reads and saves its settings: here they go to the scratch folder, never the user's own.
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(work / "settings"))
    window = MainWindow()
    window.resize(1280, 800)
    window.show()
    loop, failures = QEventLoop(), []
    window.core_ready.connect(loop.quit)
    window.core_failed.connect(failures.append)
    window.core_failed.connect(loop.quit)
    QTimer.singleShot(CORE_LOAD_TIMEOUT_MS, loop.quit)
    thread = load_core_in_background(window)
    loop.exec()
    if not thread.wait(CORE_LOAD_TIMEOUT_MS):
        raise RuntimeError("the CoreLoader thread did not end")
    if failures:
        raise RuntimeError(f"PyTorch did not load on the CoreLoader thread: {failures[0]}")
    if not window.device_label.text().startswith("Device: "):
        raise RuntimeError("the window never heard that PyTorch had loaded")
    app.processEvents()
    shot = work / "main-window.png"
    image = window.grab().toImage()
    if image.isNull() or not image.save(str(shot)):
        raise RuntimeError("could not grab the main window")
    tabs = [window.tabs.tabText(i) for i in range(window.tabs.count())]
    exports = _export_plot(window.training.epoch_plots, work)
    window.close()
    # Destroyed now, while the QApplication lives: left to the interpreter's exit, the plots crashed it.
    window.deleteLater()
    app.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    return f"platform {app.platformName()}, tabs {tabs}, core loaded on its thread, screenshot {shot}, {exports}"


def _export_plot(plots: EpochPlots, work: Path) -> str:
    """Export a plot as PNG and SVG, as its context menu does: pyqtgraph's exporters and QtSvg are in the bundle."""
    sizes = []
    for suffix, start in (("png", b"\x89PNG"), ("svg", b"<?xml")):
        path = work / f"loss.{suffix}"
        plots.export_plot(plots.loss_plot, path)
        if not path.read_bytes().startswith(start):
            raise RuntimeError(f"the plot exported as {suffix.upper()} is not a {suffix.upper()} file")
        sizes.append(f"{suffix.upper()} {path.stat().st_size:,} bytes")
    return "plot exported as " + " and ".join(sizes)
