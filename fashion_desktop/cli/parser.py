"""Every command's options. Only torch-free names are imported here, so ``--help`` stays fast."""

from __future__ import annotations

import argparse
from collections.abc import Iterable
from pathlib import Path

from fashion_desktop import __version__
from fashion_desktop.core.config import LOSSES, OPTIMIZERS, SCHEDULERS  # torch-free: --help stays fast


def _one_of(names: Iterable[str]) -> str:
    """``a, b or c``."""
    names = list(names)
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fashion-desktop", description="Build, train and try neural networks on Fashion-MNIST."
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--self-test", action="store_true", help="check the installation headlessly and exit")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    def folder_options(command: argparse.ArgumentParser, what: str) -> None:
        command.add_argument("--images", type=Path, metavar="DIR", help=what)
        command.add_argument(
            "--input-size", type=int, metavar="N", help="--images: frame to NxN (default: the network's)"
        )
        command.add_argument(
            "--color",
            action=argparse.BooleanOptionalAction,
            default=None,
            help="--images: three colour channels (default: the network's)",
        )
        command.add_argument(  # core.folders.FRAMINGS, spelt out so --help loads nothing
            "--framing",
            choices=("garment", "whole", "squash"),
            help="--images: crop to the garment (default), pad the whole photo to a square, or squash it",
        )

    def spec_source(command: argparse.ArgumentParser) -> None:
        group = command.add_mutually_exclusive_group()
        group.add_argument("--preset", default=None, help="a built-in network (default: seed)")
        group.add_argument("--spec", type=Path, help="a network saved as JSON")

    train = commands.add_parser("train", help="train a network on Fashion-MNIST")
    spec_source(train)
    train.add_argument(
        "--data",
        type=Path,
        help="folder with the Fashion-MNIST files (default: $FASHION_DESKTOP_DATA "
        "or the user data folder, where they are downloaded)",
    )
    train.add_argument(
        "--dataset",
        choices=("fashion-mnist", "mnist", "kmnist"),
        help="a torchvision dataset, in the --data folder (default fashion-mnist)",
    )
    folder_options(
        train,
        "train on an image folder: one subfolder per class, or train/ ...; a preset's last layer "
        "gets one output per class",
    )
    train.add_argument("--init-from", type=Path, metavar="MODEL", help="start from this model file's weights")
    train.add_argument("--epochs", type=int)
    train.add_argument("--batch-size", type=int)
    train.add_argument("--lr", type=float, help="learning rate")
    # The names come from the registries the engine and the Training tab use, so a new optimizer (schedule, loss)
    # appears here by itself. They are checked by TrainConfig.check(), not argparse's choices=, so a wrong one
    # gets the same message as anywhere else, and an exit code of 2 rather than argparse's SystemExit.
    for option, registry, what in (
        ("--optimizer", OPTIMIZERS, "the optimizer"),
        ("--scheduler", SCHEDULERS, "the learning-rate schedule"),
        ("--loss", LOSSES, "the loss"),
    ):
        train.add_argument(option, metavar="NAME", help=f"{what}: {_one_of(registry)}")
    train.add_argument("--device", help="auto, cpu, cuda, cuda:N or mps")
    train.add_argument("--seed", type=int)
    train.add_argument("--val-size", type=int, help="training images held out for validation (default 5000)")
    train.add_argument(
        "--keep-best",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="end with the weights of the epoch with the lowest validation loss",
    )
    train.add_argument(
        "--early-stopping",
        type=int,
        metavar="PATIENCE",
        help="stop after PATIENCE epochs without a lower validation loss (0: off)",
    )
    train.add_argument("--out", type=Path, default=Path("model.safetensors"), help="model file, saved every epoch")
    train.add_argument("--resume", type=Path, help="continue the run saved in this model file")
    train.add_argument("--json", action="store_true", help="one JSON object per line instead of progress bars")
    train.add_argument("--name", help="the run's name in the run history (default: the preset and the time)")
    train.add_argument("--no-record", action="store_true", help="leave this run out of the run history")

    predict = commands.add_parser("predict", help="classify clothing images with a trained model")
    predict.add_argument("--model", type=Path, required=True)
    predict.add_argument("images", nargs="*", type=Path, help="image files, or folders whose images to classify")
    predict.add_argument(
        "--labelled",
        type=Path,
        metavar="DIR",
        help="score a folder of class subfolders: accuracy, per class and a confusion matrix, for the folders "
        "named after the model's classes (for a Fashion-MNIST model, 'shoes' accepts any footwear)",
    )
    predict.add_argument("--json", action="store_true")
    predict.add_argument("--csv", type=Path, metavar="FILE", help="write every image's probabilities to this CSV file")
    predict.add_argument(  # the choices are core.segment.SEPARATIONS, spelt out so --help does not load OpenCV
        "--framing", choices=("grabcut", "border", "none"), default="grabcut", help="how the garment is separated"
    )

    summary = commands.add_parser("summary", help="layer-by-layer output shapes and parameter counts")
    spec_source(summary)
    folder_options(summary, "check the network against this image folder's classes and framing, as train would")
    summary.add_argument("--json", action="store_true")

    spec = commands.add_parser("spec", help="print a preset's network as JSON")
    spec.add_argument("--preset", default="seed")

    export = commands.add_parser("export", help="export a trained model")
    export.add_argument("--model", type=Path, required=True)
    export.add_argument(
        "--format",
        choices=["onnx", "torchscript", "python", "script"],
        default="python",
        help="onnx, torchscript, python (the network as a readable class) or script (a standalone training script)",
    )
    export.add_argument("--out", type=Path, help="default: beside the model, e.g. model.onnx or model_train.py")

    runs = commands.add_parser("runs", help="list, export or compare the recorded training runs")
    runs.add_argument("ids", nargs="*", type=int, help="the runs to list or export with --csv (default: all)")
    runs.add_argument("--csv", type=Path, metavar="FILE", help="write the runs' per-epoch metrics to FILE")
    runs.add_argument("--compare", nargs=2, type=int, metavar=("A", "B"), help="the settings that differ between runs")
    runs.add_argument(
        "--history",
        type=Path,
        metavar="FILE",
        help="the run history (default: $FASHION_DESKTOP_RUNS or the user data folder)",
    )
    runs.add_argument("--json", action="store_true")

    bench = commands.add_parser("bench", help="time our engine against the classic DataLoader pipeline")
    bench.add_argument("--data", type=Path)
    bench.add_argument("--epochs", type=int, default=1, help="epochs of each pipeline (alternating)")
    bench.add_argument("--json", action="store_true")
    return parser
