"""The run history's SQLite file: opening and checking it, recording runs, reading, editing and exporting them."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fashion_desktop.core.config import TrainConfig
from fashion_desktop.core.errors import UserError
from fashion_desktop.core.files import atomic_write, load_json, process_alive
from fashion_desktop.core.metrics import EpochMetrics, FitResult
from fashion_desktop.core.paths import RUNS_ENV_VAR
from fashion_desktop.core.runs.describe import CSV_RUN_COLUMNS, csv_run_fields, preset_name, run_settings
from fashion_desktop.core.runs.records import EPOCH_COLUMNS, STATUSES, RunRecord, RunStoreError
from fashion_desktop.core.spec import ModelSpec

if TYPE_CHECKING:
    from fashion_desktop.core.activity import ActivitySnapshot

SCHEMA_VERSION = 1  # PRAGMA user_version
APPLICATION_ID = int.from_bytes(b"FDrn", "big")  # PRAGMA application_id: tells our file from another app's SQLite file
_SQLITE_INT = range(-(2**63), 2**63)  # what an INTEGER column holds; a bigger id is no run, not an OverflowError

_SCHEMA = f"""
BEGIN IMMEDIATE;
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    status TEXT NOT NULL CHECK (status IN {STATUSES}),
    spec TEXT NOT NULL,
    config TEXT NOT NULL,
    device TEXT NOT NULL,
    test_loss REAL,
    test_accuracy REAL,
    best_epoch INTEGER,
    model_path TEXT,
    error TEXT,
    pid INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS epochs (
    run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    epoch INTEGER NOT NULL,
    train_loss REAL NOT NULL,
    val_loss REAL,
    val_accuracy REAL,
    lr REAL NOT NULL,
    epoch_seconds REAL NOT NULL,
    samples_per_second REAL NOT NULL,
    PRIMARY KEY (run_id, epoch)
);
PRAGMA application_id = {APPLICATION_ID};
PRAGMA user_version = {SCHEMA_VERSION};
COMMIT;
"""

# Added after schema 1 shipped, so it is created on opening when missing (a file of an older version gains it) and
# the schema version stays 1: older versions read the file as before, ignoring this table.
_ACTIVITY_TABLE = """
CREATE TABLE IF NOT EXISTS epoch_activity (
    run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    epoch INTEGER NOT NULL,
    layers TEXT NOT NULL,
    PRIMARY KEY (run_id, epoch)
)
"""
# Every model file a run has trained into: a continued run moves on to a new file, and its earlier ones are
# still its own when the run is deleted. Added after schema 1 too.
_MODELS_TABLE = """
CREATE TABLE IF NOT EXISTS run_models (
    run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    path TEXT NOT NULL,
    PRIMARY KEY (run_id, path)
)
"""
NAME_SEPARATOR = " · "  # between the parts of a default run name: "seed · Adam · 3"
CHECKPOINTS_FOLDER = "checkpoints"  # beside the history: the model files the app makes for its runs


class RunStore:
    """The run history in one SQLite file. Safe to share between the GUI thread and a training thread."""

    def __init__(self, path: str | Path, create_folders: bool = True) -> None:
        """Open the history at ``path``, creating it when the file is missing or empty.

        Runs left 'running' by a process that has since ended (a crash, a kill) are marked 'unfinished'.
        ``create_folders`` False refuses a path whose folder is missing instead of creating it (for a path the
        user typed, where a missing folder is more likely a typo than a wish).

        Raises:
            RunStoreError: the file is damaged, belongs to another program, is from a newer version of Fashion
                Desktop, or cannot be opened; the message says what to do.
        """
        self.path = Path(path)
        self._lock = threading.RLock()  # one connection, used from the GUI thread and the training thread
        if not create_folders and not self.path.parent.is_dir():
            raise self._error(
                f"there is no run history at {self.path}: the folder {self.path.parent} does not exist; check the path"
            )
        self._db = self._connect()
        self._identity = self._file_identity()
        self.mark_unfinished()

    def _file_identity(self) -> tuple[int, int] | None:
        try:
            info = os.stat(self.path)
        except OSError:
            return None
        return info.st_dev, info.st_ino

    def _check_still_there(self) -> None:
        """SQLite goes on writing into a deleted or replaced file, so the run would vanish without a word."""
        if self._identity is not None and self._file_identity() != self._identity:
            raise self._error(
                f"the run history {self.path} was deleted or replaced while it was open, so this run can no "
                "longer be recorded; the model file is unaffected"
            )

    def _connect(self) -> sqlite3.Connection:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, timeout=10, check_same_thread=False)
        except (OSError, sqlite3.Error) as error:
            raise self._error(
                f"cannot open the run history {self.path} ({error}); check that its folder is writable"
            ) from None
        try:
            self._check_and_create(db)
            # WAL: a crash mid-run keeps every committed epoch, and readers never block the training thread.
            db.execute("PRAGMA journal_mode = WAL")
            db.execute("PRAGMA synchronous = NORMAL")
            db.execute("PRAGMA foreign_keys = ON")
            return db
        except sqlite3.OperationalError as error:  # locked, read-only, disk full: the file itself may be fine
            db.close()
            raise self._error(
                f"cannot open the run history {self.path} ({error}); close other copies of "
                "Fashion Desktop and check that the file is writable"
            ) from None
        except sqlite3.DatabaseError as error:  # "file is not a database", "database disk image is malformed"
            db.close()
            raise self._error(
                f"the run history {self.path} is damaged ({error}); move it aside (rename or delete it) and "
                "Fashion Desktop will start a new, empty history"
            ) from None
        except RunStoreError:
            db.close()
            raise

    def _check_and_create(self, db: sqlite3.Connection) -> None:
        """Create the tables in a new file; refuse another program's database or a newer schema."""
        application_id = db.execute("PRAGMA application_id").fetchone()[0]
        version = db.execute("PRAGMA user_version").fetchone()[0]
        tables = db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
        if application_id == 0 and tables == 0:
            db.executescript(_SCHEMA)
        elif application_id != APPLICATION_ID:
            raise self._error(
                f"{self.path} is an SQLite database of another program, not a Fashion Desktop run history, so it "
                "was left untouched; move it elsewhere (Fashion Desktop will then start a new history there) or "
                f"point ${RUNS_ENV_VAR} at another file"
            )
        elif version > SCHEMA_VERSION:
            raise self._error(
                f"the run history {self.path} was written by a newer Fashion Desktop (schema {version}, this version "
                f"reads {SCHEMA_VERSION}); update Fashion Desktop, or move the file aside to start a new history"
            )
        for table, create in (("epoch_activity", _ACTIVITY_TABLE), ("run_models", _MODELS_TABLE)):
            if not db.execute("SELECT 1 FROM sqlite_master WHERE name = ?", (table,)).fetchone():
                with db:
                    db.execute(create)
        if "dataset" not in {row[1] for row in db.execute("PRAGMA table_info(runs)")}:
            with db:  # an older version names its columns, so it reads and writes the table as before
                db.execute("ALTER TABLE runs ADD COLUMN dataset TEXT")  # fashion-mnist, mnist, kmnist, folder
        if (check := db.execute("PRAGMA quick_check").fetchone()[0]) != "ok":
            raise sqlite3.DatabaseError(check)

    def _error(self, message: str) -> RunStoreError:
        return RunStoreError(message, self.path)

    @staticmethod
    def move_aside(path: str | Path) -> Path:
        """Rename a damaged history (and its WAL files) to ``<name>.damaged-<timestamp>``; returns the new path."""
        path = Path(path)
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        target = path.with_name(f"{path.name}.damaged-{stamp}")
        count = 1
        while target.exists():
            count += 1
            target = path.with_name(f"{path.name}.damaged-{stamp}-{count}")
        for suffix in ("-wal", "-shm", ""):  # the database last: if a rename fails, the file still is where it was
            companion = path.with_name(path.name + suffix)
            if companion.exists():
                os.replace(companion, target.with_name(target.name + suffix))
        return target

    @classmethod
    def start_fresh(cls, path: str | Path) -> RunStore:
        """Move a damaged history aside and open a new, empty one in its place."""
        cls.move_aside(path)
        return cls(path)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> RunStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @contextmanager
    def _transaction(self, writing: bool = False) -> Iterator[sqlite3.Connection]:
        """One committed transaction; a database error becomes a RunStoreError naming the file.

        ``writing`` first checks that the file is still the one opened (see ``_check_still_there``).
        """
        with self._lock:
            if writing:
                self._check_still_there()
            try:
                with self._db:
                    yield self._db
            except sqlite3.Error as error:
                raised = self._error(f"the run history {self.path} could not be read or updated ({error})")
                raised.locked = isinstance(error, sqlite3.OperationalError) and "locked" in str(error)
                raise raised from None

    # -- recording --
    def start_run(
        self,
        spec: ModelSpec,
        config: TrainConfig,
        device: str,
        name: str | None = None,
        model_path: str | Path | None = None,
        dataset: str | None = None,
    ) -> int:
        """Record a new run as 'running' and return its id.

        The default name is the preset's (or "custom"), the optimizer's and a counter: "seed · Adam · 3".
        """
        started = datetime.now().astimezone()
        with self._transaction(writing=True) as db:
            if not name:
                name = self._default_name(db, f"{preset_name(spec) or 'custom'}{NAME_SEPARATOR}{config.optimizer}")
            cursor = db.execute(
                "INSERT INTO runs (name, started_at, status, spec, config, device, model_path, pid, dataset) "
                "VALUES (?, ?, 'running', ?, ?, ?, ?, ?, ?)",
                (
                    _storable(name),
                    started.isoformat(timespec="seconds"),
                    json.dumps(spec.to_dict()),
                    json.dumps(config.to_dict()),
                    device,
                    _storable(str(model_path)) if model_path else None,
                    os.getpid(),
                    dataset,
                ),
            )
            assert cursor.lastrowid is not None
            self._add_model_path(db, cursor.lastrowid, model_path)
            return cursor.lastrowid

    @staticmethod
    def _default_name(db: sqlite3.Connection, stem: str) -> str:
        """``stem`` and the next counter after the highest one a run named ``stem · N`` has."""
        prefix = stem + NAME_SEPARATOR
        pattern = re.compile(re.escape(prefix) + r"(\d{1,9})")
        names = db.execute("SELECT name FROM runs WHERE substr(name, 1, ?) = ?", (len(prefix), prefix)).fetchall()
        counters = [int(match[1]) for (text,) in names if (match := pattern.fullmatch(text))]
        return f"{prefix}{max(counters, default=0) + 1}"

    @staticmethod
    def _add_model_path(db: sqlite3.Connection, run_id: int, model_path: str | Path | None) -> None:
        if model_path:
            db.execute(
                "INSERT OR IGNORE INTO run_models (run_id, path) VALUES (?, ?)", (run_id, _storable(str(model_path)))
            )

    def continued_run(self, history: Sequence[EpochMetrics]) -> int | None:
        """The run whose recorded epochs are exactly ``history`` (a model's, to continue), or None.

        The newest such run that is not training; a run that has gone on past the model (its later epochs
        recorded) is not it, since continuing the model would overwrite them.
        """
        if not history:
            return None
        wanted = [_epoch_key(m) for m in history]
        with self._transaction() as db:
            candidates = db.execute(
                "SELECT runs.id FROM runs JOIN epochs ON epochs.run_id = runs.id WHERE status != 'running' "
                "GROUP BY runs.id HAVING count(*) = ? AND max(epochs.epoch) = ? ORDER BY runs.id DESC",
                (len(history), history[-1].epoch),
            ).fetchall()
        return next(
            (run_id for (run_id,) in candidates if [_epoch_key(m) for m in self.epochs(run_id)] == wanted), None
        )

    def continue_run(
        self,
        run_id: int,
        config: TrainConfig,
        device: str,
        name: str | None = None,
        model_path: str | Path | None = None,
    ) -> None:
        """Mark a recorded run 'running' again, with the settings it goes on with; its epochs so far are kept.

        Its end (status, test results, best epoch) is cleared until ``finish_run`` records the new one.
        """
        with self._transaction(writing=True) as db:
            updated = db.execute(
                "UPDATE runs SET status = 'running', finished_at = NULL, test_loss = NULL, test_accuracy = NULL, "
                "best_epoch = NULL, error = NULL, config = ?, device = ?, pid = ?, name = coalesce(?, name), "
                "model_path = coalesce(?, model_path) WHERE id = ?",
                (
                    json.dumps(config.to_dict()),
                    device,
                    os.getpid(),
                    _storable(name) if name else None,
                    _storable(str(model_path)) if model_path else None,
                    run_id,
                ),
            )
            if updated.rowcount == 0:
                raise self._error(f"there is no run {run_id} in the run history {self.path}")
            self._add_model_path(db, run_id, model_path)

    def add_epoch(self, run_id: int, metrics: EpochMetrics) -> None:
        """Record one epoch's metrics, committed at once (the confusion matrix is not kept)."""
        with self._transaction(writing=True) as db:
            columns, marks = ", ".join(EPOCH_COLUMNS), ", ?" * len(EPOCH_COLUMNS)
            db.execute(
                f"INSERT OR REPLACE INTO epochs (run_id, {columns}) VALUES (?{marks})",
                (run_id, *(getattr(metrics, column) for column in EPOCH_COLUMNS)),
            )

    def finish_run(
        self,
        run_id: int,
        result: FitResult | None,
        status: str,
        model_path: str | Path | None = None,
        error: str | None = None,
    ) -> None:
        """Record how a run ended; ``model_path`` None keeps the path given at the start."""
        if status not in STATUSES:
            raise ValueError(f"status must be one of {', '.join(STATUSES)}, not {status!r}")
        test = result.test if result else None
        with self._transaction(writing=True) as db:
            db.execute(
                "UPDATE runs SET finished_at = ?, status = ?, test_loss = ?, test_accuracy = ?, best_epoch = ?, "
                "model_path = coalesce(?, model_path), error = ? WHERE id = ?",
                (
                    datetime.now().astimezone().isoformat(timespec="seconds"),
                    status,
                    test.loss if test else None,
                    test.accuracy if test else None,
                    result.best_epoch if result else None,
                    _storable(str(model_path)) if model_path else None,
                    _storable(error) if error else None,
                    run_id,
                ),
            )
            self._add_model_path(db, run_id, model_path)

    def mark_unfinished(self) -> int:
        """Mark runs left 'running' by a process that no longer exists as 'unfinished'; returns how many.

        A run records the id of the process that trains it, so a run still training in another window or
        process stays 'running'.
        """
        with self._transaction() as db:
            rows = db.execute("SELECT id, pid FROM runs WHERE status = 'running'").fetchall()
            ended = [(run_id,) for run_id, pid in rows if not _process_alive(pid)]
            db.executemany("UPDATE runs SET status = 'unfinished' WHERE id = ?", ended)
        return len(ended)

    # -- reading and editing --
    def list_runs(self) -> list[RunRecord]:
        """Every run, newest first."""
        return self._records("")

    def get_run(self, run_id: int) -> RunRecord:
        records = self._records("WHERE runs.id = ?", (run_id,)) if run_id in _SQLITE_INT else []
        if not records:
            raise self._error(f"there is no run {run_id} in the run history {self.path}")
        return records[0]

    def _records(self, where: str, args: Sequence[Any] = ()) -> list[RunRecord]:
        with self._transaction() as db:
            rows = db.execute(
                "SELECT runs.id, name, started_at, finished_at, status, spec, config, device, test_loss, "
                "test_accuracy, best_epoch, model_path, error, count(epochs.epoch), dataset FROM runs "
                f"LEFT JOIN epochs ON epochs.run_id = runs.id {where} GROUP BY runs.id ORDER BY runs.id DESC",
                args,
            ).fetchall()
        return [self._record(row) for row in rows]

    def _record(self, row: Sequence[Any]) -> RunRecord:
        """One row as a RunRecord; a row whose JSON or dates cannot be read is reported by its run's id."""
        try:
            return RunRecord(
                id=row[0],
                name=row[1],
                started_at=datetime.fromisoformat(row[2]),
                finished_at=datetime.fromisoformat(row[3]) if row[3] else None,
                status=row[4],
                spec=_checked_spec(load_json(row[5], "its network", UserError)),
                config=_checked_config(load_json(row[6], "its training settings", UserError)),
                device=row[7],
                test_loss=row[8],
                test_accuracy=row[9],
                best_epoch=row[10],
                model_path=Path(row[11]) if row[11] else None,
                error=row[12],
                epochs_done=row[13],
                dataset=row[14],
            )
        except (UserError, ValueError, TypeError, AttributeError, KeyError, OverflowError) as error:
            raise self._error(
                f"run {row[0]} ({row[1]!r}) in the run history {self.path} is damaged ({error}); move the file aside "
                "(rename or delete it) to start a new, empty history"
            ) from None

    def epochs(self, run_id: int) -> list[EpochMetrics]:
        with self._transaction() as db:
            rows = db.execute(
                f"SELECT {', '.join(EPOCH_COLUMNS)} FROM epochs WHERE run_id = ? ORDER BY epoch", (run_id,)
            ).fetchall()
        return [EpochMetrics(*row) for row in rows]

    def add_activity(self, run_id: int, snapshot: ActivitySnapshot) -> None:
        """Record the network's activity at the end of one epoch, committed at once."""
        with self._transaction(writing=True) as db:
            db.execute(
                "INSERT OR REPLACE INTO epoch_activity (run_id, epoch, layers) VALUES (?, ?, ?)",
                (run_id, snapshot.epoch, json.dumps(snapshot.to_dict(), allow_nan=True)),
            )

    def has_activity(self, run_id: int) -> bool:
        """Whether the run recorded its network's activity (runs of older versions, or without it, did not)."""
        with self._transaction() as db:
            return db.execute("SELECT 1 FROM epoch_activity WHERE run_id = ? LIMIT 1", (run_id,)).fetchone() is not None

    def activity(self, run_id: int) -> list[ActivitySnapshot]:
        """The network's activity at the end of each recorded epoch; a damaged record is left out."""
        from fashion_desktop.core.activity import ActivitySnapshot

        with self._transaction() as db:
            rows = db.execute("SELECT layers FROM epoch_activity WHERE run_id = ? ORDER BY epoch", (run_id,)).fetchall()
        snapshots = []
        for (text,) in rows:
            try:
                snapshots.append(ActivitySnapshot.from_dict(json.loads(text)))
            except (ValueError, TypeError):  # json's errors are ValueErrors; a wrong type of value, TypeError
                continue
        return snapshots

    def rename(self, run_id: int, name: str) -> None:
        if not name.strip():
            raise self._error("a run's name cannot be empty")
        self._update_one(run_id, "UPDATE runs SET name = ? WHERE id = ?", (name.strip(), run_id))

    def delete(self, run_id: int) -> None:
        """Forget a run and its epochs (its model files are left alone: see ``checkpoint_files``)."""
        self._update_one(run_id, "DELETE FROM runs WHERE id = ?", (run_id,))

    @property
    def checkpoints_folder(self) -> Path:
        """Where the app saves each run's model after every epoch (``paths.checkpoints_dir`` for this history)."""
        return self.path.parent / CHECKPOINTS_FOLDER

    def checkpoint_files(self, run_ids: Sequence[int]) -> list[Path]:
        """The model files the app made for these runs, which may go with them when they are deleted.

        Only files in the checkpoints folder beside the history that the runs trained into, never one the user
        chose elsewhere (``train --out``), and none that a run outside ``run_ids`` also points to.
        """
        ids = {run_id for run_id in run_ids if run_id in _SQLITE_INT}
        with self._transaction() as db:
            rows = db.execute(
                "SELECT run_id, path FROM run_models UNION SELECT id, model_path FROM runs WHERE model_path IS NOT NULL"
            ).fetchall()
        folder = _resolved(self.checkpoints_folder)
        theirs = {_resolved(Path(text)) for run_id, text in rows if run_id in ids}
        kept = {_resolved(Path(text)) for run_id, text in rows if run_id not in ids}
        return sorted(path for path in theirs - kept if path.parent == folder and path.is_file())

    def _update_one(self, run_id: int, sql: str, args: Sequence[Any]) -> None:
        with self._transaction(writing=True) as db:
            if run_id not in _SQLITE_INT or db.execute(sql, args).rowcount == 0:
                raise self._error(f"there is no run {run_id} in the run history {self.path}")

    def export_csv(self, run_ids: Sequence[int], path: str | Path) -> Path:
        """Write the runs' per-epoch metrics atomically, one row per epoch after its run's settings and results."""
        text = io.StringIO()
        writer = csv.writer(text, lineterminator="\n")
        writer.writerow((*CSV_RUN_COLUMNS, *EPOCH_COLUMNS))
        for run_id in run_ids:
            run = self.get_run(run_id)
            settings = csv_run_fields(run)
            writer.writerows((*settings, *(getattr(m, c) for c in EPOCH_COLUMNS)) for m in self.epochs(run_id))
        return atomic_write(Path(path), text.getvalue().encode("utf-8", "surrogateescape"))

    def setting_differences(self, id_a: int, id_b: int) -> list[tuple[str, Any, Any]]:
        """The settings that differ between two runs, as (name, value in a, value in b), in a stable order.

        Training settings appear under their config names (``lr``, ``optimizer_options.beta1``, ...) with every
        option's effective value, so a default left out of one config still compares equal to it spelled out.
        """
        a, b = run_settings(self.get_run(id_a)), run_settings(self.get_run(id_b))
        keys = dict.fromkeys([*a, *b])
        return [(key, a.get(key), b.get(key)) for key in keys if a.get(key) != b.get(key)]


def remove_files(paths: Sequence[Path]) -> list[str]:
    """Delete these files (a run's checkpoints); a message for each one that could not be deleted."""
    failures = []
    for path in paths:
        try:
            path.unlink(missing_ok=True)
        except OSError as error:
            failures.append(f"{path.name}: {error.strerror or error}")
    return failures


def _process_alive(pid: int) -> bool:
    """Whether a process with this id exists (a reused id reads as alive, which leaves a run 'running' longer)."""
    return process_alive(pid)


def _epoch_key(metrics: EpochMetrics) -> tuple[str, ...]:
    """An epoch's recorded values, compared as text so that a NaN loss equals itself."""
    return tuple(repr(getattr(metrics, column)) for column in EPOCH_COLUMNS)


def _resolved(path: Path) -> Path:
    """``path`` with symlinks and ``..`` resolved, so that two spellings of one file compare equal."""
    try:
        return path.resolve()
    except (OSError, RuntimeError):  # a symlink loop: compared as written
        return path


def _storable(text: str) -> str:
    """``text`` as SQLite can store it: a file name that is not valid UTF-8 keeps its odd bytes as escapes."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _checked_spec(data: Any) -> ModelSpec:
    """A recorded network, refused when it could not be built (an unknown layer, out_features "abc")."""
    spec = ModelSpec.from_dict(data)
    spec.check(classes=None)  # an image-folder run's network has its own class count
    return spec


def _checked_config(data: Any) -> TrainConfig:
    """Recorded settings, refused when out of range or unknown (an optimizer this version does not have)."""
    config = TrainConfig.from_dict(data)
    config.check()
    return config
