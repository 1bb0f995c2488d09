"""``predict``: images or folders of them, a CSV of every probability, or the score of a labelled folder."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from fashion_desktop.cli.common import check_writable, emit_json, writing


def cmd_predict(args: argparse.Namespace) -> int:
    from fashion_desktop.core.errors import ImageError, UserError
    from fashion_desktop.core.explain import predict_folder, write_predictions_csv
    from fashion_desktop.core.imaging import IMAGE_SUFFIXES, PreprocessOptions
    from fashion_desktop.core.inference import Prediction, Predictor

    predictor = Predictor.from_file(args.model)
    if args.labelled is not None:
        return _score_labelled(args, predictor)
    if not args.images:
        raise UserError("give the image files or folders to classify, or --labelled DIR to score a labelled folder")
    if args.csv:
        check_writable(args.csv, "--csv")  # before predicting a big folder, not after
    rows: list[tuple[Path, Prediction | ImageError]] = []  # for --csv, written once at the end, atomically
    failures, images, empty = 0, 0, []
    for source in args.images:
        found = False
        for path, result in predict_folder(predictor, [source], PreprocessOptions(separation=args.framing)):
            found, images = True, images + 1
            if args.csv:
                rows.append((path, result))
            failures += isinstance(result, ImageError)
            _show_prediction(args, path, result)
        if not found:  # only a folder yields nothing: a missing file still yields its error
            empty.append(source)
    suffixes = ", ".join(IMAGE_SUFFIXES)
    if not images:
        raise UserError(
            f"no images found in {', '.join(map(str, empty))}; give image files ({suffixes}) or folders that hold them"
        )
    for folder in empty:  # the other images were predicted; this one is a failure of its own
        failures += 1
        _show_prediction(args, folder, ImageError(f"no images found in {folder} ({suffixes})"))
    if args.csv:
        with writing(args.csv):
            write_predictions_csv(rows, args.csv, predictor.class_names)
        if not args.json:
            failed = f"; {failures} files failed (see the error column)" if failures else ""
            print(
                f"wrote {len(rows) - sum(isinstance(r, ImageError) for _, r in rows)} predictions to {args.csv}{failed}"
            )
    return 1 if failures else 0


def _score_labelled(args: argparse.Namespace, predictor: Any) -> int:
    """``predict --labelled DIR``: accuracy, per-class accuracy and the confusion matrix over the matched folders."""
    from fashion_desktop.core.errors import UserError
    from fashion_desktop.core.explain import score_labelled_folder
    from fashion_desktop.core.imaging import PreprocessOptions

    if args.images or args.csv:
        raise UserError("--labelled scores a folder on its own; leave out the image arguments and --csv")
    score = score_labelled_folder(predictor, args.labelled, PreprocessOptions(separation=args.framing))
    mapping = {f: [predictor.class_names[i] for i in ok] for f, ok in zip(score.folders, score.accepted, strict=True)}
    if args.json:
        emit_json(
            {
                "event": "labelled",
                "images": sum(score.counts),
                "accuracy": score.accuracy,
                "per_class_accuracy": score.per_class_accuracy,
                "counts": dict(zip(score.folders, score.counts, strict=True)),
                "mapping": mapping,
                "confusion": {"rows": score.folders, "columns": predictor.class_names, "counts": score.confusion},
                "unmatched": score.unmatched,
                "failed": [{"file": str(path), "error": reason} for path, reason in score.failed],
            }
        )
        return 0
    print(f"{args.labelled}: {sum(score.counts)} images of {len(score.folders)} classes, accuracy {score.accuracy:.4f}")
    for folder, accuracy, count in zip(score.folders, score.per_class_accuracy.values(), score.counts, strict=True):
        same = mapping[folder] == [folder]
        counted = "" if same else f"  (counts as right: {', '.join(mapping[folder])})"
        print(f"  {folder:<14} {accuracy:7.2%} of {count:>4}{counted}")
    if score.unmatched:
        print(f"left out (no class of the model has these names): {', '.join(score.unmatched)}")
    if score.failed:
        print(f"{len(score.failed)} images could not be read, such as {score.failed[0][0]}: {score.failed[0][1]}")
    width = 6  # class names cut to six letters keep a ten-class matrix within 80 columns
    columns = [name[:width] for name in predictor.class_names]
    print("confusion matrix (rows: folder, columns: predicted class)")
    print(" " * 15 + " ".join(f"{name:>{width}}" for name in columns))
    for folder, row in zip(score.folders, score.confusion, strict=True):
        print(f"{folder[:14]:<15}" + " ".join(f"{count:>{width}}" for count in row))
    return 0


def _show_prediction(args: argparse.Namespace, path: Path, result: Any) -> None:
    from fashion_desktop.core.errors import ImageError

    if isinstance(result, ImageError):
        if args.json:
            emit_json({"file": str(path), "error": str(result)})
        else:
            print(f"{path}: error: {result}", file=sys.stderr)
    elif args.json:
        emit_json(
            {
                "file": str(path),
                "probabilities": result.as_dict(),
                "top_class": result.top_class,
                "top_probability": result.top_probability,
                "unsure": result.unsure,
            }
        )
    elif not args.csv:  # a CSV of a big folder would otherwise scroll thousands of bar charts past
        unsure = ", not sure" if result.unsure else ""
        print(f"{path}: {result.top_class} ({result.top_probability:.1%}{unsure})")
        for name, p in sorted(result.as_dict().items(), key=lambda item: -item[1]):
            print(f"  {name:<12} {p:7.2%} {'#' * round(p * 30)}")
