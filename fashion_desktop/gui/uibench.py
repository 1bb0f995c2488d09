"""``python -m fashion_desktop.gui.uibench --data DIR``: how smooth the GUI stays while training, and what it costs.

It measures (a) the event loop's stalls while the Training tab trains the ``seed`` preset, as the lateness of a
10 ms timer, and (b) seconds per epoch trained from the Training tab against ``fashion-desktop train`` with the
same settings (in a process of its own, as a user runs it). Runs alternate between the two and take turns going
first, so that machine noise hits both alike. It also measures (c) the stalls while PyTorch loads after the window
is first drawn, in fresh processes: loaded by the app's CoreLoader thread, and, for comparison, on the GUI thread.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QCoreApplication, QEventLoop, QObject, QSettings, Qt, QTimer, Slot
from PySide6.QtWidgets import QApplication

from fashion_desktop.core.config import TrainConfig
from fashion_desktop.core.paths import RUNS_ENV_VAR
from fashion_desktop.core.presets import get_preset
from fashion_desktop.core.spec import ModelSpec

if TYPE_CHECKING:
    from fashion_desktop.gui.training import TrainingTab

TICK_MS = 10


class LatenessProbe(QObject):
    """A 10 ms timer that records how late each of its ticks is: the event loop's stalls."""

    def __init__(self) -> None:
        super().__init__()
        self.lateness_ms: list[float] = []
        self._timer = QTimer(self, interval=TICK_MS, timerType=Qt.TimerType.PreciseTimer)
        self._timer.timeout.connect(self._on_timer_timeout)
        self._last = 0.0

    def start(self) -> None:
        self.lateness_ms = []
        self._last = time.perf_counter()
        self._timer.start()

    def stop(self) -> None:
        self._timer.stop()

    @Slot()
    def _on_timer_timeout(self) -> None:
        now = time.perf_counter()
        self.lateness_ms.append(max(0.0, (now - self._last) * 1000 - TICK_MS))
        self._last = now


def train_command_epochs(config: TrainConfig, root: Path) -> list[float]:
    """Seconds per epoch of ``fashion-desktop train --preset seed`` with ``config``'s epochs and device."""
    with tempfile.TemporaryDirectory() as folder:
        command = [
            sys.executable,
            "-m",
            "fashion_desktop",
            "train",
            "--preset",
            "seed",
            "--data",
            str(root),
            "--epochs",
            str(config.epochs),
            "--device",
            config.device,
            "--out",
            str(Path(folder, "m.safetensors")),
            "--no-record",
            "--json",
        ]
        done = subprocess.run(command, capture_output=True, text=True, timeout=3600, check=True)
    events = [json.loads(line) for line in done.stdout.splitlines()]
    return [event["epoch_seconds"] for event in events if event["event"] == "epoch"]


def shown_tab(spec: ModelSpec, config: TrainConfig, root: Path) -> TrainingTab:
    """A Training tab on screen, as the window shows it once torch has loaded."""
    from fashion_desktop.gui.training import TrainingTab

    tab = TrainingTab()
    tab.resize(1280, 800)
    tab.show()
    tab.set_spec(spec)
    tab.set_config(config)
    tab.settings.folder_edit.setText(str(root))
    tab.on_core_ready()
    return tab


def gui_epochs(spec: ModelSpec, config: TrainConfig, root: Path, probe: LatenessProbe | None = None) -> list[float]:
    """Seconds per epoch training from a shown Training tab, with the ``probe`` ticking throughout if given."""
    tab = shown_tab(spec, config, root)
    loop = QEventLoop()
    tab.training_finished.connect(loop.quit)
    if probe is not None:
        probe.start()
    tab.start_button.click()
    loop.exec()
    if probe is not None:
        probe.stop()
    seconds = [m.epoch_seconds for m in tab.epoch_plots.epochs]
    tab.close()
    tab.deleteLater()
    return seconds


def start_up(where: str, data: str) -> dict[str, float]:
    """In a fresh process (torch not yet imported): the stalls from the window's first paint until it is ready."""
    command = [sys.executable, "-m", "fashion_desktop.gui.uibench", "--data", data, "--start-up", where]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, check=True)
    return json.loads(done.stdout.splitlines()[-1])


def _start_up_probe(where: str) -> None:
    """Show the main window, load the core ``where`` (``thread`` as the app does, or ``gui``), print the stalls."""
    from fashion_desktop.gui.app import CORE_MODULES, load_core_in_background
    from fashion_desktop.gui.main_window import MainWindow

    window = MainWindow()
    window.show()
    loop, probe = QEventLoop(), LatenessProbe()
    window.core_ready.connect(loop.quit)
    started = time.perf_counter()
    probe.start()
    if where == "thread":
        thread = load_core_in_background(window)
    else:
        thread = None
        QTimer.singleShot(0, lambda: ([importlib.import_module(name) for name in CORE_MODULES], window.on_core_ready()))
    loop.exec()
    probe.stop()
    ready_ms = (time.perf_counter() - started) * 1000
    if thread is not None:
        thread.wait()
    print(json.dumps({"max_stall_ms": max(probe.lateness_ms, default=0.0), "ready_ms": ready_ms}), flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fashion_desktop.gui.uibench", description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="the folder holding FashionMNIST/raw")
    parser.add_argument("--epochs", type=int, default=2, help="epochs per run (default 2)")
    parser.add_argument("--rounds", type=int, default=3, help="train and GUI runs each, alternating (default 3)")
    parser.add_argument("--device", default="cpu", help="auto, cpu, cuda, ... (default cpu)")
    parser.add_argument("--start-up", choices=("thread", "gui"), help=argparse.SUPPRESS)  # the probe's own process
    args = parser.parse_args(argv)
    # The benchmark's runs, and the model files the GUI saves after every epoch, must not join the user's history.
    scratch = tempfile.TemporaryDirectory(prefix="fashion-desktop-uibench-")
    os.environ[RUNS_ENV_VAR] = str(Path(scratch.name) / "runs.sqlite3")
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    app = QApplication.instance() or QApplication([])
    QCoreApplication.setApplicationName("fashion-desktop-uibench")  # its settings must not replace the app's
    # Nor go into the user's profile at all: the window and tabs save theirs when they close.
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(Path(scratch.name) / "settings"))
    if args.start_up:
        _start_up_probe(args.start_up)
        return 0
    loading = {where: start_up(where, args.data) for where in ("gui", "thread")}

    from fashion_desktop.core.runtime import configure_threads, keep_this_thread_on_one_core

    threads = configure_threads()  # as the app does: training gets the cores, the GUI thread keeps to one
    keep_this_thread_on_one_core()
    preset = get_preset("seed")
    config = replace(preset.config, epochs=args.epochs, device=args.device)
    root = Path(args.data)
    started = time.perf_counter()
    shown_tab(preset.spec, config, root).close()  # the first optimizer torch builds loads torch._dynamo
    core_ready_ms = (time.perf_counter() - started) * 1000
    probe = LatenessProbe()
    command: list[float] = []
    gui: list[float] = []
    for round_ in range(1, args.rounds + 1):
        for run in ("train", "GUI") if round_ % 2 else ("GUI", "train"):  # neither always goes first
            if run == "train":
                command += train_command_epochs(config, root)
            else:
                gui += gui_epochs(preset.spec, config, root)  # no probe: its 100 wake-ups a second cost CPU
        print(
            f"round {round_}: seconds per epoch: fashion-desktop train {_list(command[-args.epochs :])}; "
            f"GUI {_list(gui[-args.epochs :])}",
            flush=True,
        )
    gui_epochs(preset.spec, config, root, probe)  # a run of its own for the stalls
    app.processEvents()

    ordered = sorted(probe.lateness_ms)
    p99 = ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]
    command_s, gui_s = statistics.median(command), statistics.median(gui)
    print(
        f"seed preset, {args.epochs} epochs x {args.rounds} rounds on {args.device}, {threads} torch thread(s) "
        "for training"
    )
    print(
        f"first on_core_ready() with a fresh torch: {core_ready_ms:.0f} ms (builds the tab, lists the devices, "
        "draws the LR preview)"
    )
    for where, words in (("gui", "on the GUI thread"), ("thread", "on the CoreLoader thread (as the app does)")):
        print(
            f"start-up, PyTorch loaded {words}: longest stall {loading[where]['max_stall_ms']:.0f} ms, "
            f"ready {loading[where]['ready_ms']:.0f} ms after the first paint"
        )
    print(
        f"event loop while training ({len(ordered)} ticks of {TICK_MS} ms): max lateness {ordered[-1]:.1f} ms, "
        f"p99 {p99:.1f} ms, median {statistics.median(ordered):.1f} ms"
    )
    print(
        f"seconds per epoch (median): fashion-desktop train {command_s:.2f}, GUI {gui_s:.2f}, "
        f"GUI/train {gui_s / command_s:.2f}x (target at most 1.10x)"
    )
    return 0


def _list(seconds: list[float]) -> str:
    return ", ".join(f"{s:.2f}" for s in seconds)


if __name__ == "__main__":
    sys.exit(main())
