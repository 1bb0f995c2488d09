"""The run history: every training run, its settings and its per-epoch metrics, in a local SQLite database.

``records`` defines what a run's record holds, ``store`` keeps them in the SQLite file, ``recorder`` records a
training run as it goes, and ``describe`` puts runs into words and flat settings (comparisons, the CSV export).
"""

from fashion_desktop.core.runs.describe import (
    CSV_RUN_COLUMNS,
    csv_run_fields,
    describe_layers,
    preset_name,
    run_settings,
)
from fashion_desktop.core.runs.recorder import RecordRun
from fashion_desktop.core.runs.records import EPOCH_COLUMNS, STATUSES, RunRecord, RunStoreError
from fashion_desktop.core.runs.store import NAME_SEPARATOR, RunStore, remove_files

__all__ = [
    "CSV_RUN_COLUMNS",
    "EPOCH_COLUMNS",
    "NAME_SEPARATOR",
    "STATUSES",
    "RecordRun",
    "RunRecord",
    "RunStore",
    "RunStoreError",
    "csv_run_fields",
    "describe_layers",
    "preset_name",
    "remove_files",
    "run_settings",
]
