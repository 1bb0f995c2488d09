"""The run history in the GUI: the Runs tab.

``panel`` lays it out and acts on the selected runs, ``table`` is the runs' table model and its width-fitted view,
``curves`` overlays their curves, ``compare`` lists the settings two runs differ in, ``inside`` shows a run's
recorded activity in a window, and ``colors`` gives each run its colour in the table, curves and comparison.
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
