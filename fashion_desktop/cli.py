"""The command line: no sub-command opens the GUI; train, predict, summary, spec, export and bench script the core.

Heavy modules (torch, Qt) are imported inside each command, so ``--help`` and the GUI's first paint stay fast.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from fashion_desktop import __version__


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fashion-desktop", description="Build, train and try neural networks on Fashion-MNIST."
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--self-test", action="store_true", help="check the installation headlessly and exit")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    def spec_source(command: argparse.ArgumentParser) -> None:
        group = command.add_mutually_exclusive_group()
        group.add_argument("--preset", default=None, help="a built-in network (default: seed)")
        group.add_argument("--spec", type=Path, help="a network saved as JSON")

    train = commands.add_parser("train", help="train a network on Fashion-MNIST")
    spec_source(train)
    train.add_argument("--data", type=Path, help="folder with the Fashion-MNIST files (default: $FASHION_DESKTOP_DATA "
                       "or the user data folder, where they are downloaded)")  # fmt: skip
    train.add_argument("--epochs", type=int)
    train.add_argument("--batch-size", type=int)
    train.add_argument("--lr", type=float, help="learning rate")
    train.add_argument("--optimizer", help="SGD, Adam, AdamW, Adagrad, RMSprop, Adadelta, Adamax, NAdam, RAdam, ASGD, "
                       "Rprop")  # fmt: skip
    train.add_argument("--scheduler", help="none, StepLR, MultiStepLR, ExponentialLR, CosineAnnealingLR, "
                       "ReduceLROnPlateau")  # fmt: skip
    train.add_argument("--loss", help="cross_entropy, nll or label_smoothing")
    train.add_argument("--device", help="auto, cpu, cuda, cuda:N or mps")
    train.add_argument("--seed", type=int)
    train.add_argument("--val-size", type=int, help="training images held out for validation (default 5000)")
    train.add_argument("--keep-best", action=argparse.BooleanOptionalAction, default=None,
                       help="end with the weights of the epoch with the lowest validation loss")
    train.add_argument("--early-stopping", type=int, metavar="PATIENCE",
                       help="stop after PATIENCE epochs without a lower validation loss (0: off)")
    train.add_argument("--out", type=Path, default=Path("model.safetensors"), help="model file, saved every epoch")
    train.add_argument("--resume", type=Path, help="continue the run saved in this model file")
    train.add_argument("--json", action="store_true", help="one JSON object per line instead of progress bars")
    train.add_argument("--name", help="the run's name in the run history (default: the preset and the time)")
    train.add_argument("--no-record", action="store_true", help="leave this run out of the run history")

    predict = commands.add_parser("predict", help="classify clothing images with a trained model")
    predict.add_argument("--model", type=Path, required=True)
    predict.add_argument("images", nargs="+", type=Path, help="image files, or folders whose images to classify")
    predict.add_argument("--json", action="store_true")
    predict.add_argument("--csv", type=Path, metavar="FILE", help="write every image's probabilities to this CSV file")

    summary = commands.add_parser("summary", help="layer-by-layer output shapes and parameter counts")
    spec_source(summary)
    summary.add_argument("--json", action="store_true")

    spec = commands.add_parser("spec", help="print a preset's network as JSON")
    spec.add_argument("--preset", default="seed")

    export = commands.add_parser("export", help="export a trained model")
    export.add_argument("--model", type=Path, required=True)
    export.add_argument("--format", choices=["onnx", "torchscript", "python", "script"], default="python",
                        help="onnx, torchscript, python (the network as a readable class) or script (a standalone "
                        "training script)")  # fmt: skip
    export.add_argument("--out", type=Path, help="default: beside the model, e.g. model.onnx or model_train.py")

    runs = commands.add_parser("runs", help="list, export or compare the recorded training runs")
    runs.add_argument("ids", nargs="*", type=int, help="the runs to export with --csv (default: all)")
    runs.add_argument("--csv", type=Path, metavar="FILE", help="write the runs' per-epoch metrics to FILE")
    runs.add_argument("--compare", nargs=2, type=int, metavar=("A", "B"), help="the settings that differ between runs")
    runs.add_argument("--history", type=Path, metavar="FILE",
                      help="the run history (default: $FASHION_DESKTOP_RUNS or the user data folder)")  # fmt: skip
    runs.add_argument("--json", action="store_true")

    bench = commands.add_parser("bench", help="time our engine against the classic DataLoader pipeline")
    bench.add_argument("--data", type=Path)
    bench.add_argument("--epochs", type=int, default=1, help="epochs of each pipeline (alternating)")
    bench.add_argument("--json", action="store_true")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from fashion_desktop.core.errors import UserError

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
    except KeyboardInterrupt:
        print("fashion-desktop: interrupted", file=sys.stderr)
        return 130


def _load_spec(args: argparse.Namespace) -> tuple[Any, Any]:
    """The network and its training defaults from --preset or --spec."""
    from fashion_desktop.core.config import TrainConfig
    from fashion_desktop.core.errors import SpecError
    from fashion_desktop.core.presets import get_preset
    from fashion_desktop.core.spec import ModelSpec

    if getattr(args, "spec", None):
        try:
            return ModelSpec.from_json(args.spec.read_text()), TrainConfig()
        except OSError as error:
            raise SpecError(f"cannot read the spec file {args.spec}: {error.strerror}") from None
    preset = get_preset(args.preset or "seed")
    return preset.spec, preset.config


def cmd_train(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from fashion_desktop.console import ConsoleProgress, JsonProgress, download_progress
    from fashion_desktop.core.callbacks import SaveCheckpoint
    from fashion_desktop.core.checkpoint import Checkpoint
    from fashion_desktop.core.data import ensure_data
    from fashion_desktop.core.engine import Trainer
    from fashion_desktop.core.paths import resolve_data_dir, resolve_runs_path
    from fashion_desktop.core.runs import RecordRun, RunStore
    from fashion_desktop.core.runtime import configure_threads

    configure_threads()
    resumed = Checkpoint.load(args.resume) if args.resume else None
    if resumed:
        spec, config = resumed.spec, resumed.config or _load_spec(args)[1]
    else:
        spec, config = _load_spec(args)
    overrides = {
        "epochs": args.epochs, "batch_size": args.batch_size, "lr": args.lr, "optimizer": args.optimizer,
        "scheduler": args.scheduler, "loss": args.loss, "device": args.device, "seed": args.seed,
        "val_size": args.val_size, "keep_best": args.keep_best, "early_stopping_patience": args.early_stopping,
    }  # fmt: skip
    config = replace(config, **{k: v for k, v in overrides.items() if v is not None})
    if args.optimizer or args.scheduler:  # options of the preset's optimizer may not fit another one
        config = replace(config, optimizer_options={} if args.optimizer else config.optimizer_options,
                         scheduler_options={} if args.scheduler else config.scheduler_options)  # fmt: skip
    out = args.resume if args.resume and args.out == Path("model.safetensors") else args.out
    progress: Any = JsonProgress() if args.json else ConsoleProgress()
    trainer = Trainer(spec, config, [progress, SaveCheckpoint(out)], resume_from=resumed)
    root = ensure_data(resolve_data_dir(args.data), progress=None if args.json else download_progress)
    data = trainer.load_data(root)
    recorder = None if args.no_record else RecordRun(RunStore(resolve_runs_path()), out, args.name)
    if recorder is not None:
        trainer.callbacks.append(recorder)
    try:
        result = trainer.fit(data)
    finally:
        if recorder is not None:
            recorder.store.close()
            if recorder.error:
                print(f"fashion-desktop: warning: {recorder.error}", file=sys.stderr)
    test = result.test
    assert test is not None
    if args.json:
        _emit_json({"event": "finished", "test_loss": test.loss, "test_accuracy": test.accuracy, "model": str(out)})
    else:
        print(f"test accuracy {test.accuracy:.4f}, test loss {test.loss:.4f}; model saved to {out}")
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    from fashion_desktop.core.errors import ImageError
    from fashion_desktop.core.explain import predict_folder, write_predictions_csv
    from fashion_desktop.core.inference import Prediction, Predictor

    predictor = Predictor.from_file(args.model)
    rows: list[tuple[Path, Prediction | ImageError]] = []  # for --csv, written once at the end, atomically
    failures = 0
    for path, result in predict_folder(predictor, args.images):
        if args.csv:
            rows.append((path, result))
        if isinstance(result, ImageError):
            failures += 1
            if args.json:
                _emit_json({"file": str(path), "error": str(result)})
            else:
                print(f"{path}: error: {result}", file=sys.stderr)
        elif args.json:
            _emit_json({"file": str(path), "probabilities": result.as_dict(),
                        "top_class": result.top_class, "top_probability": result.top_probability})  # fmt: skip
        elif not args.csv:  # a CSV of a big folder would otherwise scroll thousands of bar charts past
            print(f"{path}: {result.top_class} ({result.top_probability:.1%})")
            for name, p in sorted(result.as_dict().items(), key=lambda item: -item[1]):
                print(f"  {name:<12} {p:7.2%} {'#' * round(p * 30)}")
    if args.csv:
        write_predictions_csv(rows, args.csv, predictor.class_names)
        if not args.json:
            failed = f"; {failures} files failed (see the error column)" if failures else ""
            print(f"wrote {len(rows) - failures} predictions to {args.csv}{failed}")
    return 1 if failures else 0


def cmd_summary(args: argparse.Namespace) -> int:
    spec, config = _load_spec(args)
    summary = spec.summary()
    problems = spec.validate(config.loss)
    if args.json:
        rows = [{"name": r.name, "type": r.kind, "output_shape": r.output_shape, "trainable": r.trainable,
                 "non_trainable": r.non_trainable} for r in summary.rows]  # fmt: skip
        _emit_json({"layers": rows, "total": summary.total, "trainable": summary.trainable,
                    "non_trainable": summary.non_trainable, "size_mb": summary.size_mb,
                    "problems": [p.message for p in problems]})  # fmt: skip
    else:
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
    out = EXPORT_FORMATS[args.format].export(checkpoint, args.out or default_export_path(args.model, args.format))
    print(f"wrote {out}")
    return 0


def cmd_runs(args: argparse.Namespace) -> int:
    from fashion_desktop.core.paths import resolve_runs_path
    from fashion_desktop.core.runs import RunStore

    with RunStore(resolve_runs_path(args.history)) as store:
        if args.compare:
            differences = store.setting_differences(*args.compare)
            if args.json:
                _emit_json({"differences": [{"setting": k, "a": a, "b": b} for k, a, b in differences]})
            else:
                for key, a, b in differences:
                    print(f"{key:<28} {a!s:<40} {b!s}")
            return 0
        runs = store.list_runs()
        if args.csv:
            print(f"wrote {store.export_csv(args.ids or [run.id for run in reversed(runs)], args.csv)}")
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

    root = ensure_data(resolve_data_dir(args.data), allow_download=False)
    report = run_bench(root, args.epochs)
    if args.json:
        _emit_json(report)
    else:
        for key, value in report.items():
            print(f"{key:<28} {value:.3f}" if isinstance(value, float) else f"{key:<28} {value}")
    return 0


COMMANDS = {"train": cmd_train, "predict": cmd_predict, "summary": cmd_summary, "spec": cmd_spec,
            "export": cmd_export, "bench": cmd_bench, "runs": cmd_runs}  # fmt: skip


def _emit_json(payload: dict[str, Any]) -> None:
    print(json.dumps(payload), flush=True)
