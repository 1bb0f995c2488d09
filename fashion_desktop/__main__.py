"""``python -m fashion_desktop`` and the PyInstaller entry point."""

import multiprocessing
import sys

if __name__ == "__main__":
    multiprocessing.freeze_support()  # first: a frozen child process must not re-run the app
    from fashion_desktop.cli import main

    sys.exit(main())
