"""The Runs tab: the runs' table, their curves, the settings two differ in, and the actions on the selected runs.

Open, rename, delete (with the checkpoints the app saved for them, if the user wishes) and export as CSV.

Reads the same SQLite history the command line writes (``fashion_desktop.core.runs``); nothing here imports torch,
so the panel can paint before the engine has loaded.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from enum import Enum
from pathlib import Path

from PySide6.QtCore import QItemSelection, QItemSelectionModel, Qt, Signal, Slot
from PySide6.QtGui import QAction, QCloseEvent, QColor, QKeySequence, QShowEvent
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QPushButton,
    QSplitter,
    QStackedLayout,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from fashion_desktop.core.errors import UserError
from fashion_desktop.core.paths import resolve_runs_path
from fashion_desktop.core.runs import RunStore, RunStoreError, remove_files
from fashion_desktop.gui.runs_panel.colors import slot_color
from fashion_desktop.gui.runs_panel.compare import SettingDifferences
from fashion_desktop.gui.runs_panel.curves import RunCurves
from fashion_desktop.gui.runs_panel.inside import RunInsideWindow
from fashion_desktop.gui.runs_panel.table import (
    COLUMNS,
    NAME,
    RUN_ID_ROLE,
    STARTED,
    Row,
    RunsSortProxy,
    RunsTableModel,
    RunsTableView,
)


class RunsPanel(QWidget):
    """The run history: pick runs in the table to overlay their curves; pick two to see which settings differ.

    The history file opens on the first ``refresh()`` or the first time the panel is shown. A damaged file is
    reported in the panel, with a button that moves it aside and starts a new history.
    """

    status_message = Signal(str)
    open_model_requested = Signal(object)  # Path: the selected run's model file, to open as File > Open model does

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._store: RunStore | None = None
        self._failed_path: Path | None = None  # the history that could not be opened, while the error page shows
        self._updating = False  # set while a refresh rebuilds the rows, so the plots redraw once, not per row
        self._slots: dict[int, int] = {}  # run id -> colour slot, for the runs drawn
        self._texts: dict[int, tuple[str, str]] = {}  # run id -> network column and layers, for this history file
        self.model = RunsTableModel(self)
        self.proxy = RunsSortProxy(self)
        self.proxy.setSourceModel(self.model)
        self._build()
        self.model.renamed.connect(self._on_model_renamed)
        self.model.rename_failed.connect(self._on_model_rename_failed)
        self.view.selectionModel().selectionChanged.connect(self._on_view_selection_changed)
        self._update_buttons()

    # -- public interface --
    @property
    def store(self) -> RunStore | None:
        """The open run history; None before the first refresh and while the file cannot be opened."""
        return self._store

    def refresh(self) -> None:
        """Re-read the run history (opening it the first time); the selected runs stay selected."""
        if self._store is None and not self._open_store():
            return
        assert self._store is not None
        try:
            self._store.mark_unfinished()  # a command-line run that crashed since the last look
            rows = [Row.of(run, self._store.epochs(run.id), self._texts) for run in self._store.list_runs()]
        except (UserError, ValueError, KeyError, TypeError) as error:  # a damaged page, or a row we cannot read
            self._show_store_error(self._store.path, str(error))
            return
        if rows != self.model.rows():  # unchanged: keep the scroll position, an open editor and the plots
            selected = self.selected_run_ids()
            self._updating = True
            try:
                self.model.set_rows(rows)
                self.select_runs(selected)
            finally:
                self._updating = False
            self._update_comparison()
        self._update_hint(len(self.selected_run_ids()))
        self._update_buttons()

    def selected_run_ids(self) -> list[int]:
        """The selected runs' ids, in the table's order."""
        rows = sorted(self.view.selectionModel().selectedRows(), key=lambda index: index.row())
        return [index.data(RUN_ID_ROLE) for index in rows]

    def select_runs(self, run_ids: Sequence[int]) -> None:
        """Select exactly these runs (ids no longer in the history are skipped)."""
        wanted = set(run_ids)
        selection = QItemSelection()
        for row in range(self.proxy.rowCount()):
            if self.proxy.index(row, 0).data(RUN_ID_ROLE) in wanted:
                selection.select(self.proxy.index(row, 0), self.proxy.index(row, len(COLUMNS) - 1))
        flags = QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows
        self.view.selectionModel().select(selection, flags)

    def confirm_delete(self, names: Sequence[str], files: Sequence[Path]) -> DeleteAnswer:
        """Ask before deleting these runs, and whether their checkpoint ``files`` go too. Tests override this."""
        if len(names) == 1:
            question = f"Delete the run “{names[0]}” from the history?"
        else:
            listed = "\n".join(f"• {name}" for name in names[:10]) + ("\n…" if len(names) > 10 else "")
            question = f"Delete these {len(names)} runs from the history?\n\n{listed}"
        buttons = QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No
        if files:
            size = sum(_size(path) for path in files)
            saved = "Its model is" if len(names) == 1 else "Their models are"
            question += (
                f"\n\n{saved} saved in {_files(len(files))} ({size / 1e6:.1f} MB) in the app's checkpoints folder. "
                "Delete them too?\n\nYes deletes the files as well; No keeps them (File > Open model can still "
                "open them); Cancel deletes nothing."
            )
            buttons |= QMessageBox.StandardButton.Cancel
        answer = QMessageBox.question(self, "Delete runs", question, buttons, QMessageBox.StandardButton.No)
        if answer == QMessageBox.StandardButton.Yes:
            return DeleteAnswer.WITH_FILES if files else DeleteAnswer.KEEP_FILES
        if answer == QMessageBox.StandardButton.No and files:
            return DeleteAnswer.KEEP_FILES
        return DeleteAnswer.CANCEL

    def choose_export_path(self, suggested: str) -> str:
        """Ask where to write the CSV file; an empty string cancels. Tests override this."""
        path, _ = QFileDialog.getSaveFileName(self, "Export the runs' epochs", suggested, "CSV files (*.csv)")
        return path

    # -- building --
    def _build(self) -> None:
        self.rename_button = QPushButton("Rename")
        self.rename_button.setToolTip("rename the selected run (or double-click its name)")
        self.delete_button = QPushButton("Delete...")
        self.delete_button.setToolTip("forget the selected runs (and, if you wish, the model files saved for them)")
        self.export_button = QPushButton("Export CSV...")
        self.export_button.setToolTip("write the selected runs' per-epoch metrics to a CSV file")
        self.open_button = QPushButton("Open model")
        self.open_button.setToolTip("open the selected run's model file, as File > Open model does")
        self.refresh_button = QPushButton("Refresh")
        self.refresh_button.setToolTip("read the history again, with runs recorded from the command line")
        # A line of its own over the curves, kept when empty, so that the layout does not jump as it comes and goes.
        self.hint_label = QLabel(wordWrap=True)
        self.hint_label.setStyleSheet("color: palette(placeholder-text);")
        self.hint_label.setMinimumHeight(self.fontMetrics().height())
        self.inside_button = QPushButton("Inside the network...")
        self.inside_button.setToolTip("what each layer did during the selected run, epoch by epoch")
        self.inside_window: RunInsideWindow | None = None  # made on first use
        buttons = QHBoxLayout()
        buttons.setContentsMargins(0, 0, 0, 0)
        for button in (self.open_button, self.rename_button, self.delete_button, self.export_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        buttons.addWidget(self.refresh_button)

        self.message_label = QLabel(wordWrap=True, visible=False)
        self.message_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        self.view = RunsTableView()
        self.view.setModel(self.proxy)
        self.view.sortByColumn(STARTED, Qt.SortOrder.DescendingOrder)  # newest first
        self.delete_action = QAction("Delete...", self.view, shortcut=QKeySequence(QKeySequence.StandardKey.Delete))
        self.delete_action.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)
        self.rename_action = QAction("Rename", self.view)
        self.export_action = QAction("Export CSV...", self.view)
        self.open_action = QAction("Open model", self.view)
        self.inside_action = QAction("Inside the network...", self.view)
        self.view.addActions(
            [self.open_action, self.inside_action, self.rename_action, self.delete_action, self.export_action]
        )
        self.view.setContextMenuPolicy(Qt.ContextMenuPolicy.ActionsContextMenu)

        self.curves = RunCurves()
        self.curves.setMinimumSize(260, 150)
        self.diff_panel = SettingDifferences()
        self.diff_panel.hide()

        # With no run selected, a line saying what to do instead of empty axes ranging 0 to 1.
        self.curves_placeholder = QLabel(alignment=Qt.AlignmentFlag.AlignCenter, wordWrap=True)
        self.curves_placeholder.setStyleSheet("color: palette(placeholder-text);")
        curves_box = QWidget()
        curves_layout = QVBoxLayout(curves_box)
        curves_layout.setContentsMargins(0, 0, 0, 0)
        curves_layout.setSpacing(0)
        hint_row = QHBoxLayout()
        hint_row.addWidget(self.hint_label, 1)
        hint_row.addWidget(self.inside_button)
        curves_layout.addLayout(hint_row)
        self.curves_pages = QStackedLayout()
        self.curves_pages.addWidget(self.curves_placeholder)
        self.curves_pages.addWidget(self.curves)
        curves_layout.addLayout(self.curves_pages, 1)
        self.lower_splitter = QSplitter(Qt.Orientation.Horizontal)
        self.lower_splitter.addWidget(curves_box)
        self.lower_splitter.addWidget(self.diff_panel)
        self.lower_splitter.setStretchFactor(0, 1)
        self.lower_splitter.setSizes([560, 320])
        self.splitter = QSplitter(Qt.Orientation.Vertical)
        self.splitter.addWidget(self.view)
        self.splitter.addWidget(self.lower_splitter)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setChildrenCollapsible(False)
        self.splitter.setSizes([150, 250])
        self.view.setMinimumHeight(90)

        history = QWidget()
        history_layout = QVBoxLayout(history)
        history_layout.setContentsMargins(0, 0, 0, 0)
        history_layout.addLayout(buttons)
        history_layout.addWidget(self.message_label)
        history_layout.addWidget(self.splitter, 1)

        self.error_label = QLabel(wordWrap=True)
        self.error_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.start_fresh_button = QPushButton("Start a new history")
        self.retry_button = QPushButton("Try again")
        self.retry_button.setToolTip("open the history again, after closing another program or fixing the file")
        error_buttons = QHBoxLayout()
        error_buttons.addWidget(self.start_fresh_button)
        error_buttons.addWidget(self.retry_button)
        error_buttons.addStretch(1)
        error_page = QWidget()
        error_layout = QVBoxLayout(error_page)
        error_layout.addWidget(self.error_label)
        error_layout.addLayout(error_buttons)
        error_layout.addStretch(1)

        self.pages = QStackedWidget()
        self.pages.addWidget(history)
        self.pages.addWidget(error_page)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.pages)

        self.rename_button.clicked.connect(self._on_rename_clicked)
        self.rename_action.triggered.connect(self._on_rename_clicked)
        self.delete_button.clicked.connect(self._on_delete_clicked)
        self.delete_action.triggered.connect(self._on_delete_clicked)
        self.export_button.clicked.connect(self._on_export_clicked)
        self.export_action.triggered.connect(self._on_export_clicked)
        self.refresh_button.clicked.connect(self._on_refresh_clicked)
        self.open_button.clicked.connect(self._on_open_clicked)
        self.open_action.triggered.connect(self._on_open_clicked)
        self.inside_button.clicked.connect(self._on_inside_clicked)
        self.inside_action.triggered.connect(self._on_inside_clicked)
        self.start_fresh_button.clicked.connect(self._on_start_fresh_clicked)
        self.retry_button.clicked.connect(self._on_retry_clicked)

    # -- opening the history --
    def _open_store(self) -> bool:
        path = resolve_runs_path()
        try:
            self._store = RunStore(path)
        except RunStoreError as error:
            self._show_store_error(error.path, str(error))
            return False
        self._failed_path = None
        self._texts = {}  # a new history numbers its runs from 1 again
        self.model.store = self._store
        self.pages.setCurrentIndex(0)
        return True

    def _show_store_error(self, path: Path, message: str) -> None:
        """Say in the panel why the history cannot be used; no dialog, so a refresh on every show cannot loop."""
        if self._store is not None:
            self._store.close()
        self._store = self.model.store = None
        self._failed_path = path
        self.model.set_rows([])
        self._update_comparison()
        self.error_label.setText(
            f"<b>The run history cannot be used.</b><br>{html.escape(message[:1].upper() + message[1:])}.<br><br>"
            f"“Start a new history” renames <code>{html.escape(path.name)}</code> to "
            f"<code>{html.escape(path.name)}.damaged-&lt;date&gt;</code> in the same folder (nothing is deleted) "
            "and starts an empty history in its place."
        )
        self.pages.setCurrentIndex(1)
        self._update_buttons()
        self.status_message.emit("The run history cannot be opened")

    @Slot()
    def _on_start_fresh_clicked(self) -> None:
        path = self._failed_path or resolve_runs_path()
        # RunStore.start_fresh, in two steps: the panel must say where the old file went.
        try:
            moved = RunStore.move_aside(path) if path.exists() else None
        except OSError as error:
            self.error_label.setText(f"<b>The run history could not be moved aside.</b><br>{html.escape(str(error))}")
            return
        self.refresh()
        if self._store is not None:
            where = f"; the old one is now {moved}" if moved else ""
            self._show_message(f"Started a new, empty run history{where}.")
            self.status_message.emit(f"Started a new run history{where}")

    @Slot()
    def _on_retry_clicked(self) -> None:
        self.refresh()

    @Slot()
    def _on_refresh_clicked(self) -> None:
        self.refresh()

    # -- Qt events --
    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        # Each time the tab comes into view, not when the window is restored: runs may have been recorded meanwhile.
        if not event.spontaneous():
            self.refresh()

    def closeEvent(self, event: QCloseEvent) -> None:
        if self.inside_window is not None:
            self.inside_window.close()
        if self._store is not None:
            self._store.close()
            self._store = self.model.store = None
        super().closeEvent(event)

    # -- selection: curves and differences --
    @Slot(QItemSelection, QItemSelection)
    def _on_view_selection_changed(self, selected: QItemSelection, deselected: QItemSelection) -> None:
        if not self._updating:
            self._update_comparison()
        self._update_buttons()

    def _update_comparison(self) -> None:
        ids = self.selected_run_ids()
        # A run keeps its colour while it stays selected; a newly selected one takes the first colour free.
        self._slots = {run_id: slot for run_id, slot in self._slots.items() if run_id in ids}
        for run_id in ids:
            if run_id not in self._slots:
                self._slots[run_id] = next(s for s in range(len(ids)) if s not in self._slots.values())
        colors = {run_id: slot_color(slot) for run_id, slot in self._slots.items()}
        self.model.set_colors(colors)
        rows = [row for row in map(self.model.row_of, ids) if row is not None]
        self.curves.set_runs([(row.run.name, row.epochs, self._slots[row.run.id]) for row in rows])
        self.curves_pages.setCurrentWidget(self.curves if rows else self.curves_placeholder)
        if len(rows) == 2:
            self._show_differences(rows[0], rows[1], colors)
        else:
            self.diff_panel.hide()
        self._update_hint(len(ids))

    def _show_differences(self, a: Row, b: Row, colors: dict[int, QColor]) -> None:
        assert self._store is not None
        try:
            differences = self._store.setting_differences(a.run.id, b.run.id)
        except RunStoreError as error:
            self._show_message(str(error), error=True)
            self.diff_panel.hide()
            return
        self.diff_panel.show_differences(a.run, b.run, differences, colors)
        if self.diff_panel.isHidden():  # coming into view: a fair share beside the curves, however narrow the tab
            total = self.lower_splitter.width()
            share = min(total * 45 // 100, 360)
            self.diff_panel.show()
            self.lower_splitter.setSizes([total - share, share])

    def _update_hint(self, selected: int) -> None:
        if not self.model.rowCount():
            self.curves_placeholder.setText(
                "No runs yet: each training run is recorded here,\nwith its settings and its curves."
            )
        else:
            self.curves_placeholder.setText(
                "Select runs in the table to compare their curves;\nselect two to see which settings differ."
            )
        text = "Select two runs to see which settings differ." if selected and selected != 2 else ""
        self.hint_label.setText(text)
        self.hint_label.setToolTip(text)

    def selected_model_path(self) -> Path | None:
        """The model file of the one selected run, when it has one that still exists."""
        ids = self.selected_run_ids() if self._store is not None else []
        row = self.model.row_of(ids[0]) if len(ids) == 1 else None
        path = row.run.model_path if row is not None else None
        return path if path is not None and path.is_file() else None

    def _update_buttons(self) -> None:
        count = len(self.selected_run_ids()) if self._store is not None else 0
        path = self.selected_model_path()
        for action in (self.open_button, self.open_action):
            action.setEnabled(path is not None)
            action.setToolTip(
                f"open {path}, as File > Open model does"
                if path is not None
                else "open the selected run's model file (select one run that has one)"
            )
        inside = self._inside_run() is not None
        for widget, enabled in (
            (self.inside_button, inside),
            (self.inside_action, inside),
            (self.rename_button, count == 1),
            (self.rename_action, count == 1),
            (self.delete_button, count > 0),
            (self.delete_action, count > 0),
            (self.export_button, count > 0),
            (self.export_action, count > 0),
            (self.refresh_button, self._store is not None),
        ):
            widget.setEnabled(enabled)

    def _show_message(self, text: str, error: bool = False) -> None:
        """A line above the table for what must stay readable after the status bar has moved on."""
        self.message_label.setStyleSheet("color: #c9302c;" if error else "")
        self.message_label.setText(text)
        self.message_label.setVisible(bool(text))

    # -- open, rename, delete, export --
    @Slot()
    def _on_open_clicked(self) -> None:
        path = self.selected_model_path()
        if path is not None:
            self.open_model_requested.emit(path)

    def _inside_run(self) -> Row | None:
        """The one selected run, when it recorded what happened inside its network."""
        ids = self.selected_run_ids() if self._store is not None else []
        row = self.model.row_of(ids[0]) if len(ids) == 1 else None
        try:
            return row if row is not None and self._store is not None and self._store.has_activity(row.run.id) else None
        except RunStoreError:
            return None

    @Slot()
    def _on_inside_clicked(self) -> None:
        row = self._inside_run()
        if row is None or self._store is None:
            return
        try:
            snapshots = self._store.activity(row.run.id)
        except RunStoreError as error:
            self._show_message(str(error), error=True)
            return
        if self.inside_window is None:
            self.inside_window = RunInsideWindow(self)
        self.inside_window.show_run(row.run.name, snapshots)

    @Slot()
    def _on_rename_clicked(self) -> None:
        rows = self.view.selectionModel().selectedRows(NAME)
        if len(rows) == 1:
            self.view.setCurrentIndex(rows[0])
            self.view.edit(rows[0])

    @Slot(int, str)
    def _on_model_renamed(self, run_id: int, name: str) -> None:
        self._show_message("")
        self._update_comparison()  # the legend and the difference table show the name
        self.status_message.emit(f"Renamed the run to “{name}”")

    @Slot(str)
    def _on_model_rename_failed(self, message: str) -> None:
        self._show_message(f"The run could not be renamed: {message}", error=True)
        self.status_message.emit(f"The run could not be renamed: {message}")

    @Slot()
    def _on_delete_clicked(self) -> None:
        rows = [row for row in map(self.model.row_of, self.selected_run_ids()) if row is not None]
        if self._store is None or not rows:
            return
        running = [row.run.name for row in rows if row.run.status == "running"]
        if running:
            # Its recorder would lose the row it writes each epoch into, and stop recording mid-run.
            self._show_message(f"“{running[0]}” is still training: stop it before deleting it.", error=True)
            return
        try:
            files = self._store.checkpoint_files([row.run.id for row in rows])
        except RunStoreError as error:
            self._show_message(str(error), error=True)
            return
        answer = self.confirm_delete([row.run.name for row in rows], files)
        if answer is DeleteAnswer.CANCEL:
            return
        try:
            for row in rows:
                self._store.delete(row.run.id)
        except RunStoreError as error:
            self._show_message(str(error), error=True)
            self.refresh()
            return
        done = f"Deleted {_runs(len(rows))} from the history"
        failures = remove_files(files) if answer is DeleteAnswer.WITH_FILES else []
        if failures:
            self._show_message(f"{done}, but some model files could not be deleted: {'; '.join(failures)}.", error=True)
        else:
            self._show_message("")
        if answer is DeleteAnswer.WITH_FILES:
            done += f" with {_files(len(files) - len(failures))}"
        self.status_message.emit(done)
        self.refresh()

    @Slot()
    def _on_export_clicked(self) -> None:
        ids = self.selected_run_ids()
        if self._store is None or not ids:
            return
        path = self.choose_export_path(str(Path.home() / "fashion-runs.csv"))
        if not path:
            return
        target = Path(path) if Path(path).suffix else Path(path).with_suffix(".csv")
        try:
            written = self._store.export_csv(ids, target)
        except (UserError, OSError) as error:
            self._show_message(f"The CSV file could not be written: {error}", error=True)
            return
        self._show_message("")
        self.status_message.emit(f"Exported the epochs of {_runs(len(ids))} to {written}")


class DeleteAnswer(Enum):
    """What the question before deleting runs was answered."""

    CANCEL = "cancel"
    KEEP_FILES = "delete the runs, keep their model files"
    WITH_FILES = "delete the runs and their model files"


def _runs(count: int) -> str:
    return f"{count} run{'s' if count != 1 else ''}"


def _files(count: int) -> str:
    return f"{count} file{'s' if count != 1 else ''}"


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:  # deleted meanwhile: nothing to free
        return 0
