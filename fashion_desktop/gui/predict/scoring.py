"""Scoring a labelled folder on the Predict tab: the images are predicted on a thread, the score shown in a dialog.

``FolderScoring`` is what the tab holds: the action, button and progress row, and the result dialog.

A folder of class subfolders (``core.explain.match_labelled_folder``) takes as long as predicting every photo in it,
GrabCut included (30 s for the 341 photos of issue 11's study), so ``FolderScorer`` runs
``core.explain.score_labelled_folder`` on its own ``QThread`` and reports progress through queued signals; the
cancel is a ``threading.Event`` the core checks after each image. ``ScoreDialog`` shows the result: the accuracy,
each folder's accuracy with its counts, the confusion matrix (a cell clicked lists its images on the tab), the
folders that matched no class and the files that could not be read.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Qt, QThread, Signal, Slot
from PySide6.QtGui import QAction, QColor, QResizeEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QHeaderView,
    QLabel,
    QListWidget,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from fashion_desktop.core.errors import UserError
from fashion_desktop.gui.forms import remember_folder
from fashion_desktop.gui.predict.entries import NO_MODEL_HINT, count
from fashion_desktop.gui.predict.views import DONE_STYLE, ERROR_STYLE, HINT_STYLE

if TYPE_CHECKING:  # torch-backed modules: imported inside methods, so the window paints before torch loads
    from fashion_desktop.core.explain import LabelledFolder, LabelledScore
    from fashion_desktop.core.imaging import PreprocessOptions
    from fashion_desktop.core.inference import Predictor

RIGHT_COLOUR = QColor(31, 119, 180)  # a cell that counts as right for its folder
WRONG_COLOUR = QColor(214, 39, 40)
NO_MODEL_TO_SCORE = f"Cannot score a folder: {NO_MODEL_HINT[0].lower()}{NO_MODEL_HINT[1:]}."


class _ScoreJob(QObject):
    """Lives on the scorer's thread; everything it reports goes out through queued signals."""

    progressed = Signal(int, int)  # images done, images in all
    scored = Signal(object)  # LabelledScore
    failed = Signal(str)  # the reason, a sentence for the user
    cancelled = Signal()

    def __init__(
        self, predictor: Predictor, found: LabelledFolder, options: PreprocessOptions, cancel: threading.Event
    ) -> None:
        super().__init__()
        self._predictor, self._found, self._options, self._cancel = predictor, found, options, cancel

    @Slot()
    def run(self) -> None:
        from fashion_desktop.core.explain import ScoringCancelled, score_labelled_folder

        try:
            score = score_labelled_folder(
                self._predictor, self._found, self._options, progress=self.progressed.emit, cancel=self._cancel
            )
        except ScoringCancelled:
            self.cancelled.emit()
        except UserError as error:  # a class folder that cannot be listed
            self.failed.emit(str(error))
        except RuntimeError as error:  # torch refusing the network or running out of memory: say so, keep the tab
            self.failed.emit(f"the model could not predict these images ({error})")
        else:
            self.scored.emit(score)


class FolderScorer(QObject):
    """Scores one labelled folder at a time on its own thread, owned by the Predict tab.

    Signals:
        progressed: (images done, images in all).
        scored: The ``LabelledScore`` and the folder it is of.
        failed: Why the folder could not be scored, a sentence without its full stop.
        cancelled: The user cancelled; nothing was counted.
    """

    progressed = Signal(int, int)
    scored = Signal(object, object)  # LabelledScore, Path
    failed = Signal(str)
    cancelled = Signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._thread: QThread | None = None
        self._job: _ScoreJob | None = None
        self._cancel = threading.Event()
        self._folder = Path()

    def is_running(self) -> bool:
        return self._thread is not None

    def start(self, predictor: Predictor, folder: Path, found: LabelledFolder, options: PreprocessOptions) -> None:
        """Score ``found`` (of ``folder``) with ``predictor``; refused while another folder is being scored."""
        if self._thread is not None:
            raise RuntimeError("a folder is already being scored")
        self._cancel = threading.Event()
        self._folder = folder
        self._thread = QThread()
        self._job = _ScoreJob(predictor, found, options, self._cancel)
        self._job.moveToThread(self._thread)
        self._thread.started.connect(self._job.run)
        self._job.progressed.connect(self.progressed)
        self._job.scored.connect(self._on_scored)
        self._job.failed.connect(self._on_failed)
        self._job.cancelled.connect(self._on_cancelled)
        self._thread.start()

    def cancel(self) -> None:
        """Stop after the image being predicted; ``cancelled`` follows."""
        self._cancel.set()

    def shutdown(self) -> None:
        """Cancel and wait for the thread: it may not outlive the tab."""
        self._cancel.set()
        self._finish()

    def _finish(self) -> None:
        thread, job = self._thread, self._job  # deleted on this, the GUI thread, when they go (see start_in_thread)
        self._thread = self._job = None
        if thread is not None:
            thread.quit()
            thread.wait()  # at most one image's prediction once cancelled
        del thread, job

    @Slot(object)
    def _on_scored(self, score: LabelledScore) -> None:
        self._finish()
        self.scored.emit(score, self._folder)

    @Slot(str)
    def _on_failed(self, reason: str) -> None:
        self._finish()
        self.failed.emit(reason)

    @Slot()
    def _on_cancelled(self) -> None:
        self._finish()
        self.cancelled.emit()


class FolderScoring(QObject):
    """The Predict tab's scoring of labelled folders: its action and button, the progress row, the result dialog.

    Attributes:
        action: "Score a labelled folder...": asks for the folder (the File menu shows it too).
        button: The same, under the tab's image list.
        progress: Images scored so far, shown while scoring.
        cancel_button: Stops the scoring, shown while scoring.
        dialog: The last score's window, or None.

    Signals:
        notice: (a sentence for the tab's notice, its banner kind); an empty sentence hides the notice.
        status_message: News for the status bar.
        images_requested: The images of a matrix cell clicked in the dialog, to list on the tab.
    """

    notice = Signal(str, str)
    status_message = Signal(str)
    images_requested = Signal(object)  # list[Path]

    def __init__(
        self,
        tab: QWidget,
        predictor: Callable[[], Predictor | None],
        options: Callable[[], PreprocessOptions],
        start_folder: Callable[[], str],
    ) -> None:
        super().__init__(tab)
        self._tab, self._predictor, self._options, self._start_folder = tab, predictor, options, start_folder
        self._scorer = FolderScorer(self)
        self._scorer.progressed.connect(self._on_progressed)
        self._scorer.scored.connect(self._on_scored)
        self._scorer.failed.connect(self._on_failed)
        self._scorer.cancelled.connect(self._on_cancelled)
        self.dialog: ScoreDialog | None = None
        self.action = QAction("Score a la&belled folder...", tab)
        self.action.setStatusTip("Predict every image of a folder of class subfolders and show the accuracy for each")
        self.button = QPushButton("Score a la&belled folder...")
        self.button.setToolTip(
            "Choose (or drop) a folder with one subfolder per class, named after the model's classes: see how "
            "often the model is right for each"
        )
        self.progress = QProgressBar()
        self.progress.setFormat("Scoring %v of %m images...")
        self.cancel_button = QPushButton("Cancel scoring")
        self.progress.hide()
        self.cancel_button.hide()
        self.action.triggered.connect(self._on_action_triggered)
        self.button.clicked.connect(self.action.trigger)
        self.cancel_button.clicked.connect(self._scorer.cancel)

    def is_running(self) -> bool:
        """Whether a labelled folder is being scored."""
        return self._scorer.is_running()

    def shutdown(self) -> None:
        self._scorer.shutdown()

    def labelled(self, folder: Path) -> LabelledFolder | None:
        """The class folders of ``folder`` that match the model's classes; None without a model or a match."""
        predictor = self._predictor()
        if predictor is None:
            return None
        from fashion_desktop.core.explain import match_labelled_folder

        try:
            return match_labelled_folder(folder, predictor.class_names)
        except UserError:  # no class subfolders, or none named after a class: a folder of images to list
            return None

    def start(self, folder: Path, found: LabelledFolder) -> None:
        """Score ``found`` (of ``folder``) in the background with the tab's model and switches."""
        predictor = self._predictor()
        if predictor is None:
            self.notice.emit(NO_MODEL_TO_SCORE, HINT_STYLE)
            return
        if self._scorer.is_running():
            self.notice.emit(
                f"Not scoring {folder.name}: another folder is being scored; cancel it or wait.", ERROR_STYLE
            )
            return
        self.notice.emit("", ERROR_STYLE)
        self.progress.setRange(0, 0)  # busy until the images are listed
        self._show_busy(True)
        self._scorer.start(predictor, folder, found, self._options())
        self.status_message.emit(f"Scoring {folder.name}: {', '.join(found.folders)}")

    @Slot()
    def _on_action_triggered(self) -> None:
        predictor = self._predictor()
        if predictor is None:
            self.notice.emit(NO_MODEL_TO_SCORE, HINT_STYLE)
            return
        folder = QFileDialog.getExistingDirectory(self._tab, "Score a folder of class subfolders", self._start_folder())
        if not folder:
            return
        remember_folder("images", folder)
        from fashion_desktop.core.explain import match_labelled_folder

        try:
            found = match_labelled_folder(folder, predictor.class_names)
        except UserError as error:
            self.notice.emit(f"Cannot score {Path(folder).name}: {error}.", ERROR_STYLE)
            return
        self.start(Path(folder), found)

    def _show_busy(self, busy: bool) -> None:
        self.progress.setVisible(busy)
        self.cancel_button.setVisible(busy)
        self.action.setEnabled(not busy)
        self.button.setEnabled(not busy)

    @Slot(int, int)
    def _on_progressed(self, done: int, total: int) -> None:
        self.progress.setRange(0, total)
        self.progress.setValue(done)

    @Slot(object, object)
    def _on_scored(self, score: LabelledScore, folder: Path) -> None:
        self._show_busy(False)
        if self.dialog is not None:
            self.dialog.close()
            self.dialog.deleteLater()
        self.dialog = ScoreDialog(score, folder, self._tab)
        self.dialog.images_requested.connect(self._on_images_requested)
        self.dialog.show()
        self.notice.emit(score_words(score, folder) + " (see the score window).", DONE_STYLE)

    @Slot(str)
    def _on_failed(self, reason: str) -> None:
        self._show_busy(False)
        self.notice.emit(f"Could not score the folder: {reason}.", ERROR_STYLE)

    @Slot()
    def _on_cancelled(self) -> None:
        self._show_busy(False)
        self.status_message.emit("Scoring was cancelled; nothing was counted")

    @Slot(object, str)
    def _on_images_requested(self, images: list[Path], what: str) -> None:
        self.images_requested.emit(images)
        self.status_message.emit(f"Listed {what}")


def score_words(score: LabelledScore, folder: Path) -> str:
    """The score in one sentence: how many images, of how many classes, and the accuracy."""
    return (
        f"{folder.name}: {count(sum(score.counts), 'image')} of {count(len(score.folders), 'class', 'classes')}"
        f" scored, accuracy {score.accuracy:.1%}"
    )


class LabelledMatrix(QTableWidget):
    """The confusion matrix of a labelled folder: one row per class folder, one column per class of the model.

    Unlike the test set's matrix the rows are folders, not the model's classes, and a folder may count several
    classes as right ("shoes": any footwear): those cells are blue, the others red, shaded by their share of the
    row. Clicking a count emits ``cell_clicked`` with (folder row, model class).
    """

    cell_clicked = Signal(int, int)

    def __init__(self, score: LabelledScore, parent: QWidget | None = None) -> None:
        class_names = score.class_names
        super().__init__(len(score.folders), len(class_names), parent)
        self.setHorizontalHeaderLabels(list(class_names))
        self.setVerticalHeaderLabels(list(score.folders))
        self.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.verticalHeader().setMinimumSectionSize(self.fontMetrics().height() + 8)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.setToolTip("rows: the class folders; columns: the class the model predicted")
        rows = zip(score.folders, score.confusion, score.accepted, strict=True)
        for row, (folder, counts, accepted) in enumerate(rows):
            total = max(1, sum(counts))
            for column, number in enumerate(counts):
                item = QTableWidgetItem(str(number))
                item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
                right = column in accepted
                share = number / total
                if number:
                    base = RIGHT_COLOUR if right else WRONG_COLOUR
                    # Mistakes are rarely a big share of a row: a steeper scale lets them stand out
                    strength = share if right else min(1.0, 3 * share)
                    item.setBackground(QColor(base.red(), base.green(), base.blue(), round(40 + 200 * strength)))
                    if strength > 0.55:
                        item.setForeground(QColor("white"))
                    item.setToolTip(
                        f"{number} of {folder} predicted as {class_names[column]} ({share:.0%}); click to list them"
                    )
                self.setItem(row, column, item)
        self.viewport().setCursor(Qt.CursorShape.PointingHandCursor)
        self.cellClicked.connect(self.cell_clicked)

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._fit_columns()

    def _fit_columns(self) -> None:
        """Each column as wide as its name and counts, the room left shared out: no name is cut, no gap is left."""
        header = self.horizontalHeader()
        natural = [
            max(self.sizeHintForColumn(c), header.sectionSizeFromContents(c).width()) for c in range(self.columnCount())
        ]
        spare = max(0, self.viewport().width() - sum(natural)) // max(1, len(natural))
        for column, width in enumerate(natural):
            header.resizeSection(column, width + spare)


class ScoreDialog(QDialog):
    """A labelled folder's score, beside the tab (not modal): the figures, the matrix and what was left out.

    Signals:
        images_requested: (the images of a clicked matrix cell, what they are in words), to list on the tab.
    """

    images_requested = Signal(object, str)  # list[Path], description

    def __init__(self, score: LabelledScore, folder: Path, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.score, self.folder = score, folder
        class_names = score.class_names
        self.setWindowTitle(f"Score of {folder.name}")
        self.summary = QLabel(score_words(score, folder))
        font = self.summary.font()
        font.setBold(True)
        font.setPointSizeF(font.pointSizeF() * 1.25)
        self.summary.setFont(font)
        self.summary.setWordWrap(True)

        self.per_class = QTableWidget(len(score.folders), 4)
        self.per_class.setHorizontalHeaderLabels(["Folder", "Accuracy", "Right / images", "Counts as right"])
        self.per_class.verticalHeader().hide()
        self.per_class.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.per_class.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        accuracies = score.per_class_accuracy.values()
        rows = zip(score.folders, accuracies, score.correct, score.counts, score.accepted, strict=True)
        for row, (name, accuracy, right, images, accepted) in enumerate(rows):
            cells = (name, f"{accuracy:.1%}", f"{right} / {images}", ", ".join(class_names[i] for i in accepted))
            for column, text in enumerate(cells):
                self.per_class.setItem(row, column, QTableWidgetItem(text))
        self.per_class.resizeColumnsToContents()
        self.per_class.resizeRowsToContents()
        self.per_class.horizontalHeader().setStretchLastSection(True)
        self.per_class.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        # As tall as its rows, up to a dozen of them; more scroll
        shown = min(len(score.folders), 12)
        rows_height = sum(self.per_class.rowHeight(row) for row in range(shown))
        header_height = self.per_class.horizontalHeader().sizeHint().height()
        self.per_class.setMaximumHeight(rows_height + header_height + 2 * self.per_class.frameWidth())

        self.matrix = LabelledMatrix(score)
        self.matrix.cell_clicked.connect(self._on_matrix_cell_clicked)
        self.left_out = QLabel(_left_out_words(score))
        self.left_out.setWordWrap(True)
        self.unreadable = QListWidget()
        for path, reason in score.failed:
            self.unreadable.addItem(f"{path.name}: {reason}")
        self.unreadable.setVisible(bool(score.failed))

        matrix_caption = QLabel(
            "Confusion matrix (rows: folder, columns: the model's class; click a count to list them)"
        )
        matrix_caption.setWordWrap(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.close)
        layout = QVBoxLayout(self)
        layout.addWidget(self.summary)
        layout.addWidget(self.per_class)
        layout.addWidget(matrix_caption)
        layout.addWidget(self.matrix, stretch=1)  # the matrix takes the room the per-class rows leave
        layout.addWidget(self.left_out)
        layout.addWidget(self.unreadable)
        layout.addWidget(buttons)
        self.resize(760, 560)

    @Slot(int, int)
    def _on_matrix_cell_clicked(self, row: int, column: int) -> None:
        images = self.score.images(row, column)
        if images:
            predicted = self.score.class_names[column]
            what = f"{count(len(images), 'image')} of {self.score.folders[row]} predicted as {predicted}"
            self.images_requested.emit(images, what)


def _left_out_words(score: LabelledScore) -> str:
    """What the figures leave out: folders no class matches and files that could not be read."""
    parts = []
    if score.unmatched:
        parts.append(f"Left out, no class of the model has these names: {', '.join(score.unmatched)}.")
    if score.failed:
        parts.append(f"{count(len(score.failed), 'file')} could not be read and did not count:")
    return " ".join(parts) or "Every class folder matched a class of the model, and every image could be read."
