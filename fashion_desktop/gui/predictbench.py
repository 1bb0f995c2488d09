"""How long the Predict tab takes from a dropped image to its probabilities on screen.

Run: ``python -m fashion_desktop.gui.predictbench``.

Uses an untrained seed network (prediction costs the same whatever the weights), a 1000x1000 JPEG photo and a
28x28 PNG, and reports the median of 20 drops, each into an emptied list, after two warm-up drops.

Then the background work of issues 11 and 14: the real photos of ``--photos`` (all class subfolders) dropped at
once through a real QDropEvent, with the longest event-loop stall (a 10 ms QTimer measuring its lateness), the time
to the first result and to all of them, and the growth of the resident memory; and ``--generated`` generated
300x300 photos for the memory figure. Run ``python -m fashion_desktop.gui.predictbench --help`` for the choices.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter
from PySide6.QtCore import QElapsedTimer, QMimeData, QPoint, Qt, QTimer, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication

from fashion_desktop.core.imaging import IMAGE_SUFFIXES
from fashion_desktop.gui.predict import PredictTab

ROUNDS = 20
WARM_UP = 2
PHOTOS = Path("/work/shared/data/clothing-photos/validation")
TICK_MS = 10


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--photos", type=Path, default=PHOTOS, help="a folder of photos (or of class folders), all dropped at once"
    )
    parser.add_argument("--generated", type=int, default=2000, help="generated 300x300 photos for the memory figure")
    parser.add_argument("--separation", default="grabcut", help="grabcut, border or none, for the folder drop")
    parser.add_argument("--skip-single", action="store_true", help="leave out the single-image drop medians")
    args = parser.parse_args()
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # read when the application starts, not on import
    app = QApplication.instance() or QApplication([])
    assert isinstance(app, QApplication)  # a widget benchmark: never a plain QCoreApplication
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
    tab.on_core_ready()  # as the main window does once torch has loaded: the workers load OpenCV
    tab._queue.shutdown()  # waits until the warm-up is done; the pool takes jobs again afterwards
    app.processEvents()
    if not args.skip_single:
        _single_drops(app, tab, threads)
    if args.photos.is_dir():
        _set_separation(tab, args.separation)
        # The photos are dropped as files, as when they are selected in a file manager: a folder of class
        # folders dropped whole is a labelled folder, which the tab scores instead of listing
        photos = sorted(path for path in args.photos.rglob("*") if path.suffix.lower() in IMAGE_SUFFIXES)
        _report(f"{len(photos)} photos of {args.photos} ({args.separation})", _time_folder_drop(app, tab, photos))
    if args.generated:
        with tempfile.TemporaryDirectory() as folder:
            paths = _generated_photos(Path(folder), args.generated)
            _set_separation(tab, args.separation)
            _report(
                f"{args.generated} generated 300x300 photos ({args.separation})", _time_folder_drop(app, tab, paths)
            )
    tab.shutdown()
    tab.close()


def _single_drops(app: QApplication, tab: PredictTab, threads: int) -> None:
    print(f"Drop to probabilities painted, seed network, {threads} torch thread(s), median of {ROUNDS} drops:")
    with tempfile.TemporaryDirectory() as folder:
        for label, path in _test_images(Path(folder)).items():
            handled, painted = zip(*(_time_drop(app, tab, path) for _ in range(WARM_UP + ROUNDS)), strict=True)
            print(
                f"  {label:<22} {statistics.median(handled[WARM_UP:]):6.1f} ms handled, "
                f"{statistics.median(painted[WARM_UP:]):6.1f} ms painted"
            )


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


def _set_separation(tab: PredictTab, separation: str) -> None:
    tab.separation_box.setCurrentIndex(tab.separation_box.findData(separation))


def _rss_mb() -> float:
    """The resident memory of this process in MB (Linux), or NaN elsewhere."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def _time_folder_drop(app: QApplication, tab: PredictTab, paths: list[Path]) -> dict[str, float]:
    """Drop ``paths`` at once into an emptied list and time it while a 10 ms timer measures the loop's stalls."""
    tab.clear_button.click()
    app.processEvents()
    rss_before = _rss_mb()
    clock = QElapsedTimer()
    stall = {"last": 0.0, "worst": 0.0, "first": float("nan")}

    def tick() -> None:
        now = clock.nsecsElapsed() / 1e6
        stall["worst"] = max(stall["worst"], now - stall["last"] - TICK_MS)
        stall["last"] = now
        if stall["first"] != stall["first"] and tab._count_classified():  # NaN until the first result shows
            stall["first"] = now

    timer = QTimer()
    timer.setTimerType(Qt.TimerType.PreciseTimer)
    timer.setInterval(TICK_MS)
    timer.timeout.connect(tick)
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path)) for path in paths])
    position = QPoint(tab.width() // 2, tab.height() // 2)
    buttons, modifiers = Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
    clock.start()
    timer.start()
    app.sendEvent(tab, QDragEnterEvent(position, Qt.DropAction.CopyAction, mime, buttons, modifiers))
    app.sendEvent(tab, QDropEvent(position, Qt.DropAction.CopyAction, mime, buttons, modifiers))
    stall["worst"] = max(stall["worst"], clock.nsecsElapsed() / 1e6 - TICK_MS)  # the drop handler itself
    while tab.is_preparing():
        app.processEvents()
        time.sleep(0.001)
    done = clock.nsecsElapsed() / 1e6
    timer.stop()
    app.processEvents()
    return {
        "images": tab.image_list.count(),
        "classified": tab._count_classified(),
        "stall_ms": stall["worst"],
        "first_ms": stall["first"],
        "all_ms": done,
        "rss_mb": _rss_mb() - rss_before,
    }


def _report(label: str, figures: dict[str, float]) -> None:
    print(
        f"{label}: {figures['images']:.0f} listed, {figures['classified']:.0f} classified; longest stall "
        f"{figures['stall_ms']:.0f} ms, first result {figures['first_ms']:.0f} ms, "
        f"all {figures['all_ms'] / 1000:.1f} s, "
        f"RSS +{figures['rss_mb']:.0f} MB"
    )


def _generated_photos(folder: Path, count: int) -> list[Path]:
    """``count`` 300x300 JPEG photos of a dark garment shape on a light, noisy ground."""
    rng = np.random.default_rng(0)
    paths = []
    for index in range(count):
        photo = Image.new("RGB", (300, 300), (230, 228, 224))
        inset = int(rng.integers(20, 80))
        ImageDraw.Draw(photo).rectangle(
            (inset, 40, 300 - inset, 270), fill=tuple(int(v) for v in rng.integers(0, 120, 3))
        )
        paths.append(folder / f"photo{index:05}.jpg")
        photo.save(paths[-1], quality=85)
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
    # The photo is framed on a worker thread: wait for its probabilities, then run the paint of what they changed
    while sum(tab.chart.probabilities) < 0.99:
        if time.perf_counter() - handled > 10:
            raise RuntimeError(f"{path.name} was not classified within 10 s")
        app.processEvents()
        time.sleep(0.0005)
    app.processEvents()
    painted = time.perf_counter()
    return (handled - started) * 1000, (painted - started) * 1000


if __name__ == "__main__":
    main()
