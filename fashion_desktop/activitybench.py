"""What watching inside the network costs: ``python -m fashion_desktop.activitybench --data DIR``.

Trains the ``seed`` preset for 2 epochs on the real Fashion-MNIST with and without ``NetworkActivity``, in
alternating order round after round (so that machine noise hits both alike), from the same initial weights, and
prints the median time of each and the overhead in percent. Both runs evaluate the validation and test sets, so
the time compared is the whole fit, measurements at the ends of epochs included.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from fashion_desktop.core.activity import NetworkActivity
from fashion_desktop.core.engine import Trainer
from fashion_desktop.core.presets import get_preset

OVERHEAD_BUDGET = 0.05  # at most 5 % of the seed preset's training time


def run_activity_bench(root: Path, epochs: int = 2, rounds: int = 3, device: str = "cpu") -> dict[str, Any]:
    """Seconds per fit with and without the callback (medians over ``rounds``) and the overhead as a fraction."""
    preset = get_preset("seed")
    config = replace(preset.config, epochs=epochs, device=device, keep_best=False, early_stopping_patience=0)
    data = Trainer(preset.spec, config).load_data(root)
    plain_times: list[float] = []
    watched_times: list[float] = []
    measurements = 0
    for round_number in range(rounds):
        for watched in (False, True) if round_number % 2 == 0 else (True, False):
            activity = NetworkActivity(data.val_x)
            trainer = Trainer(preset.spec, config, [activity] if watched else [])
            _synchronise(trainer.device)
            started = time.perf_counter()
            trainer.fit(data)
            _synchronise(trainer.device)
            (watched_times if watched else plain_times).append(time.perf_counter() - started)
            measurements = max(measurements, len(activity.snapshots))
    plain, watched_median = statistics.median(plain_times), statistics.median(watched_times)
    return {
        "device": str(trainer.device),
        "torch_threads": torch.get_num_threads(),
        "epochs": epochs,
        "rounds": rounds,
        "measurements_per_run": measurements,
        "plain_seconds": plain,
        "watched_seconds": watched_median,
        "overhead": watched_median / plain - 1,
        "plain_all": plain_times,
        "watched_all": watched_times,
    }


def _synchronise(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="the folder holding FashionMNIST/raw")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3, help="runs of each, alternating")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    report = run_activity_bench(args.data, args.epochs, args.rounds, args.device)
    if args.json:
        print(json.dumps(report))
    else:
        print(
            f"seed preset, {report['epochs']} epochs on {report['device']} ({report['torch_threads']} threads), "
            f"median of {report['rounds']}: {report['plain_seconds']:.2f} s without, {report['watched_seconds']:.2f} s "
            f"with the inside-the-network callback ({report['measurements_per_run']} measurements): overhead "
            f"{report['overhead']:+.1%} (budget {OVERHEAD_BUDGET:.0%})"
        )
    return 0 if report["overhead"] <= OVERHEAD_BUDGET else 1


if __name__ == "__main__":
    raise SystemExit(main())
