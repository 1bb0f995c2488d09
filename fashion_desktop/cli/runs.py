"""``runs``: list, export or compare the recorded training runs."""

from __future__ import annotations

import argparse

from fashion_desktop.cli.common import emit_json, writing


def cmd_runs(args: argparse.Namespace) -> int:
    from fashion_desktop.core.paths import resolve_runs_path
    from fashion_desktop.core.runs import RunStore

    # A --history path is typed: a missing folder is a typo to report, not one to create with an empty history.
    with RunStore(resolve_runs_path(args.history), create_folders=args.history is None) as store:
        if args.compare:
            a, b = args.compare
            differences = store.setting_differences(a, b)
            if args.json:
                emit_json({"differences": [{"setting": k, "a": va, "b": vb} for k, va, vb in differences]})
            elif not differences:
                print(f"runs {a} and {b} have the same settings")
            else:
                for key, va, vb in differences:
                    print(f"{key:<28} {va!s:<40} {vb!s}")
            return 0
        runs = [store.get_run(run_id) for run_id in dict.fromkeys(args.ids)] if args.ids else store.list_runs()
        if args.csv:
            ids = [run.id for run in runs] if args.ids else [run.id for run in reversed(runs)]  # oldest first
            with writing(args.csv):
                print(f"wrote {store.export_csv(ids, args.csv)}")
        elif args.json:
            emit_json({"runs": [run.to_dict() for run in runs]})
        else:
            for run in runs:
                accuracy = "-" if run.test_accuracy is None else f"{run.test_accuracy:.4f}"
                epochs = f"{run.epochs_done}/{run.config.epochs}"
                print(f"{run.id:>4}  {run.name:<32} {run.status:<10} epochs {epochs:<9} test accuracy {accuracy}")
    return 0
