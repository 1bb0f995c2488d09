"""The run history in the GUI: the Runs tab.

``panel`` lays it out and acts on the selected runs, ``table`` is the runs' table model, ``curves`` overlays their
curves, ``compare`` lists the settings two runs differ in, and ``colors`` gives each run its colour in all three.
"""

from fashion_desktop.gui.runs_panel.curves import RunCurves
from fashion_desktop.gui.runs_panel.panel import RunsPanel
from fashion_desktop.gui.runs_panel.table import (
    BEST_VAL,
    COLUMNS,
    EPOCHS,
    NAME,
    NETWORK,
    OPTIMIZER,
    STARTED,
    STATUS,
    TEST,
    RunsTableModel,
)

__all__ = [
    "BEST_VAL",
    "COLUMNS",
    "EPOCHS",
    "NAME",
    "NETWORK",
    "OPTIMIZER",
    "STARTED",
    "STATUS",
    "TEST",
    "RunCurves",
    "RunsPanel",
    "RunsTableModel",
]
