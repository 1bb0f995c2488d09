"""``summary`` (optionally against an image folder), ``spec`` and ``export``."""

from __future__ import annotations

import argparse

from fashion_desktop.cli.common import emit_json, load_spec, writing
from fashion_desktop.cli.train import data_choice, fit_to_folder


def cmd_summary(args: argparse.Namespace) -> int:
    """The network's layers and problems; with --images, the network ``train --images`` would build for that folder.

    There it is checked against the folder's class count and framed input shape, as the trainer checks it.
    """
    from fashion_desktop.core.layers import describe_shape
    from fashion_desktop.core.spec import NUM_CLASSES

    spec, config = load_spec(args)
    classes: tuple[str, ...] = ()
    _, images, framing = data_choice(args, spec, None)
    if images is not None:
        spec, classes = fit_to_folder(args, spec, images, framing, None)
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
        emit_json(
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
    with writing(target):
        out = EXPORT_FORMATS[args.format].export(checkpoint, target)
    print(f"wrote {out}")
    return 0
