"""photobench scores a model file on a folder of labelled photos, per separation method, and prints the table."""

from __future__ import annotations

import numpy as np
from PIL import Image

from fashion_desktop.core.builder import build_model
from fashion_desktop.core.checkpoint import Checkpoint
from fashion_desktop.core.presets import get_preset
from fashion_desktop.photobench import CLASS_MAP, METHODS, main, run_photobench


def test_photobench_scores_every_method_and_class(tmp_path, capsys):
    rng = np.random.default_rng(0)
    for name in ("t-shirt", "shoes"):
        folder = tmp_path / "validation" / name
        folder.mkdir(parents=True)
        for index in range(2):
            pixels = np.full((120, 90, 3), 240, dtype=np.uint8)
            pixels[20:100, 15:75] = rng.integers(0, 120, 3)
            Image.fromarray(pixels).save(folder / f"{index}.jpg")
    (tmp_path / "validation" / "hat").mkdir()  # not a Fashion-MNIST class: left out
    Image.new("RGB", (50, 50)).save(tmp_path / "validation" / "hat" / "cap.jpg")
    spec = get_preset("seed").spec
    model = tmp_path / "seed.safetensors"
    Checkpoint(spec=spec, weights=build_model(spec).state_dict()).save(model)

    report = run_photobench(tmp_path, [model])
    assert report["photos"] == 4 and report["per_class_photos"]["t-shirt"] == 2
    assert set(report["timings"]) == set(METHODS)
    scores = report["models"]["seed"]["photos"]
    for method in METHODS:
        assert 0.0 <= scores[method]["top1"] <= 1.0
        assert set(scores[method]["per_class"]) == {"t-shirt", "shoes"}
    assert report["models"]["seed"]["fashion_mnist_test_accuracy"] is None  # never evaluated
    assert set(CLASS_MAP["shoes"]) == {"Sandal", "Sneaker", "Ankle boot"}

    assert main(["--photos", str(tmp_path), "--model", str(model), "--method", "border"]) == 0
    printed = capsys.readouterr().out
    assert "| seed (no test result) | all (4) |" in printed and "| border |" in printed
