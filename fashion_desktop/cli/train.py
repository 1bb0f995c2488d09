"""``train``: a preset, a spec file, --resume or --init-from, on a torchvision set or an image folder; ``bench``."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from fashion_desktop.cli.common import check_data_folder, check_writable, emit_json, load_spec


def cmd_train(args: argparse.Namespace) -> int:
    from fashion_desktop.console import console_observer
    from fashion_desktop.core.runtime import configure_threads
    from fashion_desktop.core.session import run_training

    configure_threads()
    request = _train_request(args)
    request.check()  # settings that cannot train are refused before the files are looked at
    check_writable(request.model_path, "--out")
    if request.images is None:
        check_data_folder(args.data)
    outcome = run_training(request, console_observer(args.json))
    if outcome.error is not None:
        raise outcome.error
    test = outcome.result.test
    calibration = outcome.calibration
    if args.json:
        ece = {"ece_before": calibration.ece_before, "ece_after": calibration.ece_after} if calibration else {}
        emit_json(
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
        spec, config = resumed.spec, resumed.config or load_spec(args)[1]
    else:
        spec, config = load_spec(args)
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
    dataset, images, framing = data_choice(args, spec, resumed)
    if images is not None:
        spec, _ = fit_to_folder(args, spec, images, framing, resumed)
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


def data_choice(args: argparse.Namespace, spec: Any, resumed: Any) -> tuple[str, Path | None, Any]:
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


def fit_to_folder(args: argparse.Namespace, spec: Any, images: Path, framing: Any, resumed: Any) -> tuple[Any, Any]:
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
        spec = spec.with_classes(len(classes))
    return spec, classes


def cmd_bench(args: argparse.Namespace) -> int:
    from fashion_desktop.bench import run_bench
    from fashion_desktop.core.data import ensure_data
    from fashion_desktop.core.paths import resolve_data_dir

    check_data_folder(args.data)
    root = ensure_data(resolve_data_dir(args.data), allow_download=False)
    report = run_bench(root, args.epochs)
    if args.json:
        emit_json(report)
    else:
        for key, value in report.items():
            print(f"{key:<28} {value:.3f}" if isinstance(value, float) else f"{key:<28} {value}")
    return 0
