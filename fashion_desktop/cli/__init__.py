"""The command line: no sub-command opens the GUI; train, predict, summary, spec, export, runs and bench script it.

One module per group of commands: ``train`` (train, bench), ``predict``, ``network`` (summary, spec, export) and
``runs``; ``parser`` holds every option, ``common`` what several commands share. Heavy modules (torch, Qt) are
imported inside each command, so ``--help`` and the GUI's first paint stay fast.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from fashion_desktop.cli.network import cmd_export, cmd_spec, cmd_summary
from fashion_desktop.cli.parser import build_parser
from fashion_desktop.cli.predict import cmd_predict
from fashion_desktop.cli.runs import cmd_runs
from fashion_desktop.cli.train import cmd_bench, cmd_train

__all__ = ["COMMANDS", "build_parser", "main"]

COMMANDS = {
    "train": cmd_train,
    "predict": cmd_predict,
    "summary": cmd_summary,
    "spec": cmd_spec,
    "export": cmd_export,
    "bench": cmd_bench,
    "runs": cmd_runs,
}


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
