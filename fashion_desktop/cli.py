"""The command line: no sub-command opens the GUI; train, predict, summary, spec, export and bench script the core.

Heavy modules (torch, Qt) are imported inside each command, so ``--help`` and the GUI's first paint stay fast.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

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


def main(argv: Sequence[str] | None = None) -> int:
    _tolerant_output()
    args = build_parser().parse_args(argv)
    from fashion_desktop.core.errors import UserError, out_of_memory

    if args.command is not None:
        _stop_on_sigterm()
    try:
        if args.self_test:
            from fashion_desktop.selftest import run_self_test

            return run_self_test()
        if args.command is None:
            from fashion_desktop.gui.app import run_app

            return run_app()
        return COMMANDS[args.command](args) or 0
    except UserError as error:
        print(f"fashion-desktop: error: {error}", file=sys.stderr)
        return 2
    except OSError as error:  # a file the commands did not expect to fail (they name the ones they write)
        where = f"{error.filename}: " if error.filename else ""
        print(f"fashion-desktop: error: {where}{error.strerror or error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("fashion-desktop: interrupted", file=sys.stderr)
        return 130
    except (MemoryError, RuntimeError) as error:
        if (oom := out_of_memory(error)) is None:
            raise
        print(f"fashion-desktop: error: {oom}", file=sys.stderr)
        return 2


def _tolerant_output() -> None:
    """Never fail on printing a file name after the work is done.

    A name that is not valid UTF-8, or not in PYTHONIOENCODING's charset, is printed with backslash escapes
    instead of raising UnicodeEncodeError.
    """
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="backslashreplace")


def _stop_on_sigterm() -> None:
    """Treat SIGTERM (kill, a service manager, a closed terminal's shell) like Ctrl+C: stop, record, exit 130."""
    import signal
    import threading

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, interrupt)


@contextmanager
def _writing(path: Path) -> Iterator[None]:
    """Turn an OSError while writing ``path`` into a message that names the file and says what to do."""
    from fashion_desktop.core.errors import OutputError

    try:
        yield
    except OSError as error:
        raise OutputError(f"cannot write {path}: {error.strerror or error}; choose another file or folder") from None


def _check_writable(path: Path, option: str) -> None:
    """Refuse, before any work, a file that cannot be written: its folder is missing or read-only, or it is a folder."""
    from fashion_desktop.core.errors import OutputError

    folder = path.parent
    if path.is_dir():
        raise OutputError(f"{option} {path} is a folder; give a file name such as {path / 'model.safetensors'}")
    if not folder.is_dir():
        raise OutputError(
            f"cannot write {path}: the folder {folder} does not exist; create it or choose another {option}"
        )
    try:  # a real write, not os.access: that misses read-only mounts and network file systems' own rules
        fd, probe = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".probe", dir=folder)
        os.close(fd)
        os.remove(probe)
    except OSError as error:
        raise OutputError(f"cannot write {path}: {error.strerror or error}; choose another {option}") from None


def _check_data_folder(folder: Path | None) -> None:
    """A --data folder must exist: downloading into a mistyped path would hide the typo behind a long download."""
    from fashion_desktop.core.errors import DataError
    from fashion_desktop.core.paths import default_data_dir

    if folder is not None and not folder.expanduser().is_dir():
        what = "is not a folder" if folder.expanduser().exists() else "does not exist"
        raise DataError(
            f"the data folder {folder} {what}; check the path, or leave out --data to use "
            f"{default_data_dir()}, where Fashion-MNIST is downloaded when it is missing"
        )


def _load_spec(args: argparse.Namespace) -> tuple[Any, Any]:
    """The network and its training defaults from --preset or --spec.

    A spec file carries no training settings: the defaults' loss follows the network's head (NLLLoss for a
    LogSoftmax head, CrossEntropy otherwise), so every preset written out by ``spec`` trains when read back.
    """
    from fashion_desktop.core.config import TrainConfig
    from fashion_desktop.core.errors import SpecError
    from fashion_desktop.core.files import MAX_SPEC_BYTES, read_text
    from fashion_desktop.core.presets import get_preset
    from fashion_desktop.core.spec import ModelSpec

    if getattr(args, "spec", None):
        try:
            text = read_text(args.spec, MAX_SPEC_BYTES, "a spec file", SpecError)
        except SpecError as error:
            raise SpecError(f"cannot read the spec file {args.spec}: {error}") from None
        spec = ModelSpec.from_json(text)
        return spec, TrainConfig(loss="nll" if spec.head == "LogSoftmax" else "cross_entropy")
    preset = get_preset(args.preset or "seed")
    return preset.spec, preset.config


def _option_of(setting: str) -> str:
    """The ``train`` option of a TrainConfig field: ``batch_size`` is --batch-size, ``loss_options`` --loss."""
    return "--" + setting.removesuffix("_options").removesuffix("_patience").replace("_", "-")


def _refuse_changes_on_resume(path: Path, trained: Any, asked: Any) -> None:
    """--resume continues a run exactly, so only the settings in CONTINUE_MAY_CHANGE may differ from its own."""
    from fashion_desktop.core.config import CONTINUE_MAY_CHANGE, changed_settings
    from fashion_desktop.core.errors import ConfigError

    changed = changed_settings(trained, asked)
    # Another optimizer (loss, schedule) brings other options: naming the choice says enough.
    changed = [
        key for key in changed if key.removesuffix("_options") == key or key.removesuffix("_options") not in changed
    ]
    if not changed:
        return
    old, new = trained.to_dict(), asked.to_dict()
    details = ", ".join(f"{_option_of(key)} {old[key]!r} (asked: {new[key]!r})" for key in changed)
    options = ", ".join(dict.fromkeys(_option_of(key) for key in changed))
    allowed = ", ".join(_option_of(key) for key in CONTINUE_MAY_CHANGE)
    raise ConfigError(
        f"{path} was trained with {details}; --resume continues that same training, so it may change only {allowed}. "
        f"Leave out {options}, or start a new run instead (without --resume)"
    )


def _train_request(args: argparse.Namespace) -> Any:
    """The TrainingRequest that ``train``'s arguments ask for: a preset, a spec file or --resume, with overrides."""
    from dataclasses import replace

    from fashion_desktop.core.checkpoint import Checkpoint
    from fashion_desktop.core.config import normalize_device
    from fashion_desktop.core.errors import ConfigError
    from fashion_desktop.core.paths import resolve_data_dir
    from fashion_desktop.core.session import TrainingRequest

    if args.resume and (args.preset or args.spec):
        raise ConfigError(
            f"--resume continues the network saved in {args.resume}, so it takes no --preset or "
            "--spec; leave them out, or start a new run instead (without --resume)"
        )
    resumed = Checkpoint.load(args.resume) if args.resume else None
    if resumed:
        spec, config = resumed.spec, resumed.config or _load_spec(args)[1]
    else:
        spec, config = _load_spec(args)
    overrides = {
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "lr": args.lr,
        "optimizer": args.optimizer,
        "scheduler": args.scheduler,
        "loss": args.loss,
        "device": args.device and normalize_device(args.device),
        "seed": args.seed,
        "val_size": args.val_size,
        "keep_best": args.keep_best,
        "early_stopping_patience": args.early_stopping,
    }
    asked = replace(config, **{k: v for k, v in overrides.items() if v is not None})
    # The options of one optimizer (or schedule) may not fit another: a new choice starts from its defaults.
    if asked.optimizer != config.optimizer:
        asked = replace(asked, optimizer_options={})
    if asked.scheduler != config.scheduler:
        asked = replace(asked, scheduler_options={})
    if resumed and resumed.config:
        _refuse_changes_on_resume(args.resume, resumed.config, asked)
    if resumed and resumed.epoch >= asked.epochs:
        done = resumed.epoch
        trained = f"{done} of {done} epochs" if asked.epochs == done else f"{done} epochs, more than {asked.epochs}"
        raise ConfigError(
            f"{args.resume} has already trained {trained}; pass --epochs M (more than {done}) to continue"
        )
    out = args.resume if args.resume and args.out == Path("model.safetensors") else args.out
    dataset, images, framing = _data_choice(args, spec, resumed)
    if images is not None:
        spec, _ = _fit_to_folder(args, spec, images, framing, resumed)
    return TrainingRequest(
        spec,
        asked,
        resolve_data_dir(args.data),
        resume_from=resumed,
        record=not args.no_record,
        run_name=args.name,
        model_path=out,
        must_save_model=True,  # the --out file is what the command makes
        predict_test_set=False,  # no gallery to show them in
        dataset=dataset,
        images=images,
        framing=framing,
        init_from=Checkpoint.load(args.init_from) if args.init_from else None,
        init_from_name=args.init_from.name if args.init_from else "",
    )


def _data_choice(args: argparse.Namespace, spec: Any, resumed: Any) -> tuple[str, Path | None, Any]:
    """(dataset, image folder, framing) from --dataset, --images, --input-size, --color and --framing.

    A continued run keeps the data it was trained on: an image-folder model's own folder and framing unless
    --images names the folder's new place. The folder options without a folder are refused, as they would
    silently do nothing.
    """
    from fashion_desktop.core.errors import ConfigError
    from fashion_desktop.core.folders import FramingSettings

    folder_options = [
        option
        for option, value in (("--input-size", args.input_size), ("--color", args.color), ("--framing", args.framing))
        if value is not None
    ]
    saved = dict(resumed.data) if resumed is not None and resumed.data else {}
    images = args.images
    if images is None and saved.get("dataset") == "folder" and not getattr(args, "dataset", None):
        images = _recorded_folder(args.resume, saved)
    if images is None:
        if folder_options:
            raise ConfigError(f"{', '.join(folder_options)} frame the photos of an image folder; add --images DIR")
        return getattr(args, "dataset", None) or saved.get("dataset", "fashion-mnist"), None, None
    if getattr(args, "dataset", None):
        raise ConfigError("--images trains on an image folder and --dataset on a torchvision set; give one of them")
    if not images.is_dir():
        raise ConfigError(f"the image folder {images} does not exist or is not a folder; check the path")
    channels, size, _ = spec.input_shape
    trained = resumed.framing if resumed is not None else None  # continuing: the photos framed as before
    framing = FramingSettings(
        size=args.input_size or size,
        color=args.color if args.color is not None else channels == 3,
        framing=args.framing or (trained.framing if trained else "garment"),
        separation=trained.separation if trained else "grabcut",
    )
    return "folder", images, framing


def _recorded_folder(model: Path, saved: dict[str, Any]) -> Path:
    """The image folder a model file says it was trained on, when it is still there."""
    from fashion_desktop.core.errors import ConfigError

    folder = saved.get("images")
    if not isinstance(folder, str) or not folder:
        raise ConfigError(
            f"{model} was trained on an image folder but does not say which (it was saved before models recorded "
            "it); give that folder with --images DIR"
        )
    if not Path(folder).is_dir():
        raise ConfigError(
            f"{model} was trained on the image folder {folder}, which is no longer there; if it was moved, give "
            "its new place with --images DIR (the same class folders)"
        )
    return Path(folder)


def _fit_to_folder(args: argparse.Namespace, spec: Any, images: Path, framing: Any, resumed: Any) -> tuple[Any, Any]:
    """The network for an image folder and the folder's classes (read from its subfolders, no image decoded).

    The network takes the framing's input shape. A preset's last Linear layer gets one output per class (a spec
    file is the user's own: the check says what to change); a continued model must see the classes it learnt.
    """
    from dataclasses import replace

    from fashion_desktop.core.errors import ConfigError
    from fashion_desktop.core.folders import discover_layout

    classes = discover_layout(images).class_names
    spec = replace(spec, input_shape=(framing.channels, framing.size, framing.size))
    if resumed is not None:
        if classes != resumed.class_names:
            raise ConfigError(
                f"{args.resume} was trained on the classes {', '.join(resumed.class_names)} but {images} holds "
                f"{', '.join(classes)}; continue on the folder it was trained on, or start a new run "
                "(without --resume, --init-from MODEL keeps what fits)"
            )
    elif not args.spec:
        spec = _with_classes(spec, len(classes))
    return spec, classes


def _with_classes(spec: Any, classes: int) -> Any:
    """``spec`` with its last Linear layer's out_features set to ``classes``: a preset made for ten classes."""
    from dataclasses import replace

    last = max((i for i, layer in enumerate(spec.layers) if layer.kind == "Linear"), default=None)
    if last is None:
        return spec
    layer = spec.layers[last]
    return spec.replaced(last, replace(layer, params={**layer.params, "out_features": classes}))


def cmd_train(args: argparse.Namespace) -> int:
    from fashion_desktop.console import console_observer
    from fashion_desktop.core.runtime import configure_threads
    from fashion_desktop.core.session import run_training

    configure_threads()
    request = _train_request(args)
    request.check()  # settings that cannot train are refused before the files are looked at
    _check_writable(request.model_path, "--out")
    if request.images is None:
        _check_data_folder(args.data)
    outcome = run_training(request, console_observer(args.json))
    if outcome.error is not None:
        raise outcome.error
    test = outcome.result.test
    calibration = outcome.calibration
    if args.json:
        ece = {"ece_before": calibration.ece_before, "ece_after": calibration.ece_after} if calibration else {}
        _emit_json(
            {
                "event": "finished",
                "test_loss": test.loss,
                "test_accuracy": test.accuracy,
                "model": str(request.model_path),
                **({"temperature": calibration.temperature, **ece} if calibration else {}),
            }
        )
    else:
        print(f"test accuracy {test.accuracy:.4f}, test loss {test.loss:.4f}; model saved to {request.model_path}")
        if calibration:
            print(
                f"calibrated: temperature {calibration.temperature:.3f}, expected calibration error on the test set "
                f"{calibration.ece_before:.4f} before, {calibration.ece_after:.4f} after"
            )
    return 0


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
        _check_writable(args.csv, "--csv")  # before predicting a big folder, not after
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
        with _writing(args.csv):
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
        _emit_json(
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
            _emit_json({"file": str(path), "error": str(result)})
        else:
            print(f"{path}: error: {result}", file=sys.stderr)
    elif args.json:
        _emit_json(
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


def cmd_summary(args: argparse.Namespace) -> int:
    """The network's layers and problems; with --images, the network ``train --images`` would build for that folder.

    There it is checked against the folder's class count and framed input shape, as the trainer checks it.
    """
    from fashion_desktop.core.layers import describe_shape
    from fashion_desktop.core.spec import NUM_CLASSES

    spec, config = _load_spec(args)
    classes: tuple[str, ...] = ()
    _, images, framing = _data_choice(args, spec, None)
    if images is not None:
        spec, classes = _fit_to_folder(args, spec, images, framing, None)
    summary = spec.summary()
    problems = spec.validate(config.loss, classes=len(classes) if classes else NUM_CLASSES)
    if args.json:
        rows = [
            {
                "name": r.name,
                "type": r.kind,
                "output_shape": r.output_shape,
                "trainable": r.trainable,
                "non_trainable": r.non_trainable,
            }
            for r in summary.rows
        ]
        _emit_json(
            {
                "layers": rows,
                "total": summary.total,
                "trainable": summary.trainable,
                "non_trainable": summary.non_trainable,
                "size_mb": summary.size_mb,
                "input_shape": list(spec.input_shape),
                **({"classes": list(classes)} if classes else {}),
                "problems": [p.message for p in problems],
            }
        )
    else:
        if classes:
            shown = ", ".join(classes[:6]) + (", ..." if len(classes) > 6 else "")
            print(f"{images}: {len(classes)} classes ({shown}), framed to {describe_shape(spec.input_shape)}")
        print(summary.table())
        for problem in problems:
            print(f"{problem.severity}: {problem.message}")
    return 1 if any(p.severity == "error" for p in problems) else 0


def cmd_spec(args: argparse.Namespace) -> int:
    from fashion_desktop.core.presets import get_preset

    print(get_preset(args.preset).spec.to_json())
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from fashion_desktop.core.checkpoint import Checkpoint
    from fashion_desktop.core.export import EXPORT_FORMATS, default_export_path

    checkpoint = Checkpoint.load(args.model)
    target = args.out or default_export_path(args.model, args.format)
    with _writing(target):
        out = EXPORT_FORMATS[args.format].export(checkpoint, target)
    print(f"wrote {out}")
    return 0


def cmd_runs(args: argparse.Namespace) -> int:
    from fashion_desktop.core.paths import resolve_runs_path
    from fashion_desktop.core.runs import RunStore

    # A --history path is typed: a missing folder is a typo to report, not one to create with an empty history.
    with RunStore(resolve_runs_path(args.history), create_folders=args.history is None) as store:
        if args.compare:
            a, b = args.compare
            differences = store.setting_differences(a, b)
            if args.json:
                _emit_json({"differences": [{"setting": k, "a": va, "b": vb} for k, va, vb in differences]})
            elif not differences:
                print(f"runs {a} and {b} have the same settings")
            else:
                for key, va, vb in differences:
                    print(f"{key:<28} {va!s:<40} {vb!s}")
            return 0
        runs = [store.get_run(run_id) for run_id in dict.fromkeys(args.ids)] if args.ids else store.list_runs()
        if args.csv:
            ids = [run.id for run in runs] if args.ids else [run.id for run in reversed(runs)]  # oldest first
            with _writing(args.csv):
                print(f"wrote {store.export_csv(ids, args.csv)}")
        elif args.json:
            _emit_json({"runs": [run.to_dict() for run in runs]})
        else:
            for run in runs:
                accuracy = "-" if run.test_accuracy is None else f"{run.test_accuracy:.4f}"
                epochs = f"{run.epochs_done}/{run.config.epochs}"
                print(f"{run.id:>4}  {run.name:<32} {run.status:<10} epochs {epochs:<9} test accuracy {accuracy}")
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from fashion_desktop.bench import run_bench
    from fashion_desktop.core.data import ensure_data
    from fashion_desktop.core.paths import resolve_data_dir

    _check_data_folder(args.data)
    root = ensure_data(resolve_data_dir(args.data), allow_download=False)
    report = run_bench(root, args.epochs)
    if args.json:
        _emit_json(report)
    else:
        for key, value in report.items():
            print(f"{key:<28} {value:.3f}" if isinstance(value, float) else f"{key:<28} {value}")
    return 0


COMMANDS = {
    "train": cmd_train,
    "predict": cmd_predict,
    "summary": cmd_summary,
    "spec": cmd_spec,
    "export": cmd_export,
    "bench": cmd_bench,
    "runs": cmd_runs,
}


def _emit_json(payload: dict[str, Any]) -> None:
    """One JSON line; NaN and infinities (not JSON) become null, so a reader never sees invalid JSON."""
    print(json.dumps(_finite(payload), allow_nan=False), flush=True)


def _finite(value: Any) -> Any:
    if isinstance(value, float) and value != value or value in (float("inf"), float("-inf")):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value
