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
    train.add_argument("--optimizer", help="SGD, Adam, AdamW, Adagrad, RMSprop, Adadelta, Adamax, NAdam, RAdam, ASGD, Rprop")
    train.add_argument("--scheduler", help="none, StepLR, MultiStepLR, ExponentialLR, CosineAnnealingLR, ReduceLROnPlateau")
    train.add_argument("--loss", help="cross_entropy, nll or label_smoothing")
    train.add_argument("--device", help="auto, cpu, cuda, cuda:N or mps")
    train.add_argument("--seed", type=int)
    train.add_argument("--val-size", type=int, help="training images held out for validation (default 5000)")
    train.add_argument("--out", type=Path, default=Path("model.safetensors"), help="model file, saved every epoch")
    train.add_argument("--resume", type=Path, help="continue the run saved in this model file")
    train.add_argument("--json", action="store_true", help="one JSON object per line instead of progress bars")

    predict = commands.add_parser("predict", help="classify clothing images with a trained model")
    predict.add_argument("--model", type=Path, required=True)
    predict.add_argument("images", nargs="+", type=Path)
    predict.add_argument("--json", action="store_true")

    summary = commands.add_parser("summary", help="layer-by-layer output shapes and parameter counts")
    spec_source(summary)
    summary.add_argument("--json", action="store_true")

    spec = commands.add_parser("spec", help="print a preset's network as JSON")
    spec.add_argument("--preset", default="seed")

    export = commands.add_parser("export", help="export a trained model")
    export.add_argument("--model", type=Path, required=True)
    export.add_argument("--format", choices=["python"], default="python")
    export.add_argument("--out", type=Path, required=True)

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
    from fashion_desktop.core.data import ensure_data, resolve_data_dir
    from fashion_desktop.core.engine import Trainer
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
        "val_size": args.val_size,
    }  # fmt: skip
    config = replace(config, **{k: v for k, v in overrides.items() if v is not None})
    if args.optimizer or args.scheduler:  # options of the preset's optimizer may not fit another one
        config = replace(config, optimizer_options={} if args.optimizer else config.optimizer_options,
                         scheduler_options={} if args.scheduler else config.scheduler_options)  # fmt: skip
    out = args.resume if args.resume and args.out == Path("model.safetensors") else args.out
    progress: Any = JsonProgress() if args.json else ConsoleProgress()
    trainer = Trainer(spec, config, [progress, SaveCheckpoint(out)], resume_from=resumed)
    root = ensure_data(resolve_data_dir(args.data), progress=None if args.json else download_progress)
    result = trainer.fit(trainer.load_data(root))
    test = result.test
    assert test is not None
    if args.json:
        _emit_json({"event": "finished", "test_loss": test.loss, "test_accuracy": test.accuracy, "model": str(out)})
    else:
        print(f"test accuracy {test.accuracy:.4f}, test loss {test.loss:.4f}; model saved to {out}")
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    from fashion_desktop.core.errors import ImageError
    from fashion_desktop.core.inference import Predictor

    predictor = Predictor.from_file(args.model)
    failures = 0
    for path in args.images:
        try:
            prediction = predictor.predict(path)
        except ImageError as error:
            failures += 1
            if args.json:
                _emit_json({"file": str(path), "error": str(error)})
            else:
                print(f"{path}: error: {error}", file=sys.stderr)
            continue
        if args.json:
            _emit_json({"file": str(path), "probabilities": prediction.as_dict(),
                        "top_class": prediction.top_class, "top_probability": prediction.top_probability})  # fmt: skip
        else:
            print(f"{path}: {prediction.top_class} ({prediction.top_probability:.1%})")
            for name, p in sorted(prediction.as_dict().items(), key=lambda item: -item[1]):
                print(f"  {name:<12} {p:7.2%} {'#' * round(p * 30)}")
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
    from fashion_desktop.core.builder import to_python
    from fashion_desktop.core.checkpoint import Checkpoint, atomic_write

    checkpoint = Checkpoint.load(args.model)
    atomic_write(args.out, to_python(checkpoint.spec).encode())
    print(f"wrote {args.out}")
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from fashion_desktop.bench import run_bench
    from fashion_desktop.core.data import ensure_data, resolve_data_dir

    root = ensure_data(resolve_data_dir(args.data), allow_download=False)
    report = run_bench(root, args.epochs)
    if args.json:
        _emit_json(report)
    else:
        for key, value in report.items():
            print(f"{key:<28} {value:.3f}" if isinstance(value, float) else f"{key:<28} {value}")
    return 0


COMMANDS = {"train": cmd_train, "predict": cmd_predict, "summary": cmd_summary, "spec": cmd_spec,
            "export": cmd_export, "bench": cmd_bench}  # fmt: skip


def _emit_json(payload: dict[str, Any]) -> None:
    print(json.dumps(payload), flush=True)
