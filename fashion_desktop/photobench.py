"""``python -m fashion_desktop.photobench``: Fashion-MNIST models on real clothing photos, per garment separation.

Each photo of the seven classes that map onto Fashion-MNIST is decoded once, then framed by every separation
method (``none`` is the earlier preprocessing, a crop to the box of pixels brighter than the background) and
classified by every model given. It prints top-1 accuracy overall and per class side by side, the median and
90th-percentile milliseconds each method takes per decoded photo, and each model's Fashion-MNIST test accuracy
from its file, which preprocessing leaves untouched.

Targets (issue 11): ``small-cnn`` at least 0.50 and ``seed`` at least 0.30 with GrabCut, GrabCut at most 60 ms
a photo (median, 400x534).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from fashion_desktop.core.imaging import IMAGE_SUFFIXES, PreprocessOptions, open_image, to_model_input

# The photo folders' classes that Fashion-MNIST has, and the Fashion-MNIST classes that count as right for each.
# Any footwear counts for shoes: the photos do not tell sandals, sneakers and boots apart.
CLASS_MAP: dict[str, tuple[str, ...]] = {
    "t-shirt": ("T-shirt/top",),
    "pants": ("Trouser",),
    "longsleeve": ("Pullover",),
    "dress": ("Dress",),
    "outwear": ("Coat",),
    "shirt": ("Shirt",),
    "shoes": ("Sandal", "Sneaker", "Ankle boot"),
}
METHODS: tuple[str, ...] = ("none", "border", "grabcut")  # the old preprocessing first, for comparison


@dataclass(frozen=True)
class Photo:
    path: Path
    folder: str  # the photo folder's class, a key of CLASS_MAP
    image: Image.Image


def find_photos(root: Path) -> list[tuple[Path, str]]:
    """The mapped classes' photos under ``root/validation`` (or ``root`` itself when it holds the class folders).

    Raises:
        SystemExit: No mapped class folder is there.
    """
    folder = root / "validation" if (root / "validation").is_dir() else root
    found = [
        (path, name)
        for name in CLASS_MAP
        if (folder / name).is_dir()
        for path in sorted((folder / name).iterdir())
        if path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith(".")
    ]
    if not found:
        raise SystemExit(
            f"{folder} holds none of the class folders {', '.join(CLASS_MAP)}; "
            "give the clothing-photos folder (with validation/) or its validation folder"
        )
    return found


def run_photobench(root: Path, models: Sequence[Path], methods: Sequence[str] = METHODS) -> dict[str, Any]:
    """Frame every mapped photo with each method and score each model on it.

    Args:
        root: The photos' folder (see ``find_photos``).
        models: Fashion-MNIST model files.
        methods: Separation methods to compare.

    Returns:
        Plain numbers: per method the timings, per model and method the accuracy overall and per class.
    """
    from fashion_desktop.core.checkpoint import Checkpoint
    from fashion_desktop.core.inference import Predictor

    decode_ms, photos = [], []
    for path, folder in find_photos(root):
        started = time.perf_counter()
        image = open_image(path)
        decode_ms.append(1000 * (time.perf_counter() - started))
        photos.append(Photo(path, folder, image))
    inputs: dict[str, np.ndarray] = {}
    timings: dict[str, dict[str, float]] = {}
    for method in methods:
        options = PreprocessOptions(separation=method)
        framed, spent, cpu = [], [], []
        for photo in photos:
            started, started_cpu = time.perf_counter(), time.process_time()
            framed.append(to_model_input(photo.image, options))
            spent.append(1000 * (time.perf_counter() - started))
            cpu.append(1000 * (time.process_time() - started_cpu))
        inputs[method] = np.stack(framed)
        timings[method] = {
            "median_ms": statistics.median(spent),
            "p90_ms": float(np.percentile(spent, 90)),
            # CPU time is what a photo costs without other programs competing for the cores (summed over threads)
            "cpu_median_ms": statistics.median(cpu),
        }
    results: dict[str, Any] = {}
    for model_path in models:
        predictor = Predictor.from_file(model_path)
        test = Checkpoint.load(model_path).test
        scores: dict[str, Any] = {}
        for method in methods:
            predictions = predictor.predict_array(inputs[method])
            right = [p.top_class in CLASS_MAP[photo.folder] for p, photo in zip(predictions, photos, strict=True)]
            per_class = {
                name: float(np.mean([r for r, photo in zip(right, photos, strict=True) if photo.folder == name]))
                for name in CLASS_MAP
                if any(photo.folder == name for photo in photos)
            }
            scores[method] = {"top1": float(np.mean(right)), "per_class": per_class}
        results[model_path.stem] = {
            "file": str(model_path),
            "fashion_mnist_test_accuracy": test.accuracy if test is not None else None,
            "photos": scores,
        }
    counts = {name: sum(photo.folder == name for photo in photos) for name in CLASS_MAP}
    sizes = [photo.image.size for photo in photos]
    return {
        "photos": len(photos),
        "per_class_photos": counts,
        "typical_size": max(set(sizes), key=sizes.count),
        "decode_median_ms": statistics.median(decode_ms),
        "timings": timings,
        "models": results,
    }


def format_report(report: dict[str, Any]) -> str:
    """The figures as Markdown tables: accuracy per model, method and class, then the time per photo."""
    methods = list(report["timings"])
    width, height = report["typical_size"]
    lines = [
        f"{report['photos']} photos of the 7 mapped classes (any footwear counts for shoes); top-1 accuracy",
        "",
        "| model (Fashion-MNIST test) | class (photos) | " + " | ".join(methods) + " |",
        "| --- | --- | " + " | ".join("---:" for _ in methods) + " |",
    ]
    for name, model in report["models"].items():
        test = model["fashion_mnist_test_accuracy"]
        label = f"{name} ({test:.3f})" if test is not None else f"{name} (no test result)"
        overall = " | ".join(f"**{model['photos'][m]['top1']:.3f}**" for m in methods)
        lines.append(f"| {label} | all ({report['photos']}) | {overall} |")
        for cls in model["photos"][methods[0]]["per_class"]:
            row = " | ".join(f"{model['photos'][m]['per_class'][cls]:.2f}" for m in methods)
            lines.append(f"|  | {cls} ({report['per_class_photos'][cls]}) | {row} |")
    lines += [
        "",
        f"Milliseconds per decoded photo (mostly {width}x{height}; decoding adds {report['decode_median_ms']:.1f})",
        "",
        "| method | median | p90 | median CPU time |",
        "| --- | ---: | ---: | ---: |",
    ]
    lines += [
        f"| {m} | {t['median_ms']:.1f} | {t['p90_ms']:.1f} | {t['cpu_median_ms']:.1f} |"
        for m, t in report["timings"].items()
    ]
    lines.append(f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores while measuring)")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fashion_desktop.photobench", description=__doc__.split("\n")[0])
    parser.add_argument("--photos", type=Path, required=True, help="the clothing-photos folder (uses validation/)")
    parser.add_argument("--model", type=Path, nargs="+", required=True, help="Fashion-MNIST model files")
    parser.add_argument("--method", choices=METHODS, nargs="+", default=list(METHODS), help="separations to compare")
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    args = parser.parse_args(argv)
    for path in args.model:
        if not path.is_file():
            parser.error(f"model file {path} was not found; train one with: fashion-desktop train --out {path}")
    report = run_photobench(args.photos, args.model, args.method)
    print(json.dumps(report) if args.json else format_report(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
