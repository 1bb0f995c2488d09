"""Measure calibration and the "not sure" rule of a Fashion-MNIST model file.

Fits the temperature and the energy line on the model's validation split (the seeded 5,000 of the training files
the trainer holds out), then prints the expected calibration error before and after on the test set, and the share
of images flagged unsure among Fashion-MNIST test images and among real clothing photos (prepared with the app's
own :func:`fashion_desktop.core.imaging.preprocess_file`).

Run: ``python -m fashion_desktop.calibbench --model MODEL --data FASHION_MNIST_FOLDER --photos PHOTO_FOLDER``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from fashion_desktop.core.calibration import calibrate, energy, model_logits
from fashion_desktop.core.checkpoint import Checkpoint
from fashion_desktop.core.data import load_fashion_mnist
from fashion_desktop.core.errors import UserError
from fashion_desktop.core.imaging import IMAGE_SUFFIXES, preprocess_file


def run_calibration_bench(
    model_path: Path, data_root: Path, photos: Path | None, val_size: int = 5000
) -> dict[str, Any]:
    checkpoint = Checkpoint.load(model_path)
    model = checkpoint.build_model()
    spec = checkpoint.spec
    data = load_fashion_mnist(data_root, val_size=val_size, mean=spec.mean, std=spec.std)
    val_logits = model_logits(model, data.val_x)
    test_logits = model_logits(model, data.test_x)
    calibration = calibrate(val_logits, data.val_y, test_logits, data.test_y)
    test_unsure = calibration.unsure(test_logits)
    correct = test_logits.argmax(1) == data.test_y
    result: dict[str, Any] = {
        "model": str(model_path),
        "calibration": calibration.to_dict(),
        "test_accuracy": float(correct.double().mean()),
        "test_unsure_share": float(test_unsure.double().mean()),
        "test_accuracy_when_sure": float(correct[~test_unsure].double().mean()),
        "test_accuracy_when_unsure": float(correct[test_unsure].double().mean()) if test_unsure.any() else None,
        "test_unlike_training_share": float((energy(test_logits) < calibration.min_energy).double().mean()),
    }
    if photos is not None and photos.is_dir():
        seen = []
        for path in sorted(p for p in photos.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES):
            try:
                seen.append(preprocess_file(path)[1])
            except UserError:
                continue
        x = torch.from_numpy(np.stack(seen)).float().unsqueeze(1).div(255).sub(spec.mean).div(spec.std)
        photo_logits = model_logits(model, x)
        result["photos"] = len(seen)
        result["photos_unsure_share"] = float(calibration.unsure(photo_logits).double().mean())
        result["photos_unlike_training_share"] = float((energy(photo_logits) < calibration.min_energy).double().mean())
        top = calibration.probabilities(photo_logits).max(1).values
        result["photos_low_probability_share"] = float((top < calibration.min_probability).double().mean())
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--data", type=Path, required=True, help="the Fashion-MNIST folder")
    parser.add_argument("--photos", type=Path, help="a folder of photos (searched recursively)")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    result = run_calibration_bench(args.model, args.data, args.photos)
    result["seconds"] = round(time.perf_counter() - started, 1)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
