"""The Training tab's results: the test accuracy, the confusion matrix and its slider, the mistakes gallery."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QSignalBlocker, Qt, Signal, Slot
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QApplication, QLabel, QSlider, QVBoxLayout, QWidget

from fashion_desktop.core.errors import DataError, UserError
from fashion_desktop.core.metrics import EpochMetrics, Evaluation
from fashion_desktop.gui.forms import DATA_FOLDER_HINT
from fashion_desktop.gui.mistakes import MistakesGallery, TestImage
from fashion_desktop.gui.plots.confusion import ConfusionMatrixView

if TYPE_CHECKING:  # torch-dependent, imported where used so the window paints before torch loads
    from fashion_desktop.core.checkpoint import Checkpoint
    from fashion_desktop.core.predictions import TestPredictions

NO_RESULTS = "Train a network to see its accuracy on the test images."


class ResultsPanel(QWidget):
    """The results of the model being trained or shown, and the test images behind a confusion-matrix cell.

    Signals:
        predict_requested: a TestImage chosen in the gallery, to try it on the Predict tab.
        status_message: a line for the status bar.
        warning: (title, message) of something the user must read.
        matrix_epoch_changed: the epoch whose validation matrix is shown, or None (the test set's, or none).
    """

    predict_requested = Signal(object)
    status_message = Signal(str)
    warning = Signal(str, str)
    matrix_epoch_changed = Signal(object)

    def __init__(self, data_root: Callable[[], Path], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._data_root = data_root  # where the test images of a model opened from a file are read
        self._matrix_epochs: list[EpochMetrics] = []  # the epochs whose validation matrix the slider can show
        self._matrix_test: Evaluation | None = None  # the slider's last position, when there is a test result
        self._training = False
        self._planned_epochs: int | None = None  # while training, the run's last epoch
        self._model: Checkpoint | None = None  # the model whose test images a click shows
        self._predictions: TestPredictions | None = None  # the test set as classified by _predictions_model
        self._predictions_model: Checkpoint | None = None
        self.gallery: MistakesGallery | None = None  # made on the first click of a cell

        self.results_label = QLabel(NO_RESULTS, wordWrap=True)
        font = QFont(self.results_label.font())
        font.setBold(True)
        self.results_label.setFont(font)
        self.matrix_label = QLabel(wordWrap=True)
        self.confusion_view = ConfusionMatrixView()
        self.confusion_view.cell_clicked.connect(self._on_confusion_view_cell_clicked)
        self.confusion_view.status_message.connect(self.status_message)
        self.matrix_epoch: int | None = None  # the epoch whose validation matrix is shown
        self.matrix_slider = QSlider(Qt.Orientation.Horizontal, pageStep=1)
        self.matrix_slider.setTickPosition(QSlider.TickPosition.TicksBelow)
        self.matrix_slider.setToolTip(
            "how the validation confusion matrix changed epoch by epoch; the last position is the test set"
        )
        self.matrix_slider.valueChanged.connect(self._on_matrix_slider_value_changed)
        self.matrix_slider.hide()
        layout = QVBoxLayout(self)
        layout.addWidget(self.results_label)
        layout.addWidget(self.matrix_label)
        layout.addWidget(self.confusion_view, 1)
        layout.addWidget(self.matrix_slider)

    # -- what the tab tells it --
    def set_text(self, text: str) -> None:
        self.results_label.setText(text)

    def set_training(self, training: bool, planned_epochs: int | None = None) -> None:
        """Whether a run trains (up to ``planned_epochs``, once known): the test matrix is clickable only between runs.

        Leaving training shows the matrix again, so that the test set's becomes clickable.
        """
        if training and not self._training:
            self.hide_gallery()  # it shows the images of a model that is about to change
        self._training, self._planned_epochs = training, planned_epochs if training else None
        self._show_matrix(self.matrix_slider.value())

    def set_model(self, model: Checkpoint | None, predictions: TestPredictions | None = None) -> None:
        """The model whose test images a click shows, with its predictions when they are known already."""
        if model is not self._model:
            self.hide_gallery()
        self._model = model
        if predictions is not None:
            self._predictions, self._predictions_model = predictions, model

    def set_matrices(self, history: Sequence[EpochMetrics], test: Evaluation | None) -> None:
        """Let the slider go through these epochs' validation matrices, then the test matrix; show the last."""
        self._matrix_epochs = [m for m in history if m.val_confusion is not None]
        self._matrix_test = test
        self._update_slider(follow=True)

    def add_epoch(self, metrics: EpochMetrics) -> None:
        if metrics.val_confusion is None:
            return
        self._matrix_epochs.append(metrics)
        # Follow the newest epoch, unless the user has moved back to look at an earlier one.
        self._update_slider(follow=self.matrix_slider.value() >= self.matrix_slider.maximum())

    def set_test(self, test: Evaluation) -> None:
        self._matrix_test = test
        self._update_slider(follow=True)

    def hide_gallery(self) -> None:
        if self.gallery is not None:
            self.gallery.hide()

    # -- the confusion matrix and its slider --
    def _matrix_positions(self) -> int:
        return len(self._matrix_epochs) + (self._matrix_test is not None)

    def _update_slider(self, follow: bool) -> None:
        positions = self._matrix_positions()
        with QSignalBlocker(self.matrix_slider):
            self.matrix_slider.setRange(0, max(0, positions - 1))
            if follow:
                self.matrix_slider.setValue(positions - 1)
        self.matrix_slider.setVisible(positions > 1)
        self._show_matrix(self.matrix_slider.value())

    @Slot(int)
    def _on_matrix_slider_value_changed(self, position: int) -> None:
        self._show_matrix(position)

    def _set_matrix_epoch(self, epoch: int | None) -> None:
        if epoch != self.matrix_epoch:
            self.matrix_epoch = epoch
            self.matrix_epoch_changed.emit(epoch)

    def _show_matrix(self, position: int) -> None:
        """Show the matrix at a slider position, and say what it is."""
        if self._matrix_positions() == 0:
            self.confusion_view.clear()
            self.matrix_label.clear()
            self.matrix_label.hide()
            self._set_matrix_epoch(None)
            return
        self.matrix_label.show()
        if position >= len(self._matrix_epochs):
            test = self._matrix_test
            assert test is not None
            clickable = not self._training
            self.confusion_view.set_evaluation(test, clickable=clickable)
            self.confusion_view.export_name = "confusion-matrix-test"
            hint = ": click a count to see those images" if clickable else ""
            self.matrix_label.setText(f"Test set, {self.confusion_view.total:,} images{hint}")
            self._set_matrix_epoch(None)
            return
        metrics = self._matrix_epochs[position]
        assert metrics.val_confusion is not None
        # An epoch's validation images are not kept (only their counts), but its cell's test images can be shown.
        hint = "; click it to see this cell's test images" if self._can_show_test_images() else ""
        self.confusion_view.set_confusion(metrics.val_confusion, click_hint=hint)
        self.confusion_view.export_name = f"confusion-matrix-epoch-{metrics.epoch}"
        self._set_matrix_epoch(metrics.epoch)
        planned = self._planned_epochs if self._planned_epochs is not None else self._matrix_epochs[-1].epoch
        accuracy = f", {metrics.val_accuracy:.1%} right" if metrics.val_accuracy is not None else ""
        self.matrix_label.setText(
            f"Validation, epoch {metrics.epoch} of {max(planned, metrics.epoch)}: "
            f"{self.confusion_view.total:,} images{accuracy}"
        )

    # -- the images behind a cell --
    def _can_show_test_images(self) -> bool:
        return self._matrix_test is not None and self._model is not None and not self._training

    @Slot(int, int)
    def _on_confusion_view_cell_clicked(self, true_class: int, predicted_class: int) -> None:
        epoch = self.matrix_epoch
        if epoch is not None:
            # Only counts are kept of an epoch's validation images, and the weights they were judged by are gone.
            if not self._can_show_test_images():
                when = "once training has finished" if self._training else "when the model has test results"
                self.status_message.emit(
                    f"Epoch {epoch}'s validation images are not kept, only their counts; "
                    f"the test images behind a count can be shown {when}."
                )
                return
            self.matrix_slider.setValue(self.matrix_slider.maximum())  # the test matrix, whose images exist
            self.status_message.emit(
                f"Epoch {epoch}'s validation images are not kept, only their counts: these are the test images "
                f"that the final model put in the same cell."
            )
        elif not self.confusion_view.clickable:
            self.status_message.emit("The test images behind a count can be shown once training has finished.")
            return
        predictions = self._test_predictions()
        if predictions is None:
            return
        if self.gallery is None:
            self.gallery = MistakesGallery(self)
            self.gallery.test_image_chosen.connect(self._on_gallery_test_image_chosen)
        assert self._model is not None  # there are predictions only for a model
        mistakes = predictions.cell(true_class, predicted_class)
        self.gallery.show_cell(true_class, predicted_class, mistakes, predictions.images, self._model.class_names)

    def _test_predictions(self) -> TestPredictions | None:
        """The model's probabilities for the test set: kept from training, or computed once for a file."""
        model = self._model
        if model is None or self._training:
            return None
        if self._predictions is None or self._predictions_model is not model:
            from fashion_desktop.core.predictions import load_test_predictions

            self.status_message.emit("Classifying the test images...")
            QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
            try:
                self._predictions = load_test_predictions(model, self._data_root())
            except UserError as error:
                hint = f"\n\n{DATA_FOLDER_HINT}" if isinstance(error, DataError) else ""
                self.warning.emit("Cannot show the test images", f"{error}{hint}")
                return None
            finally:
                QApplication.restoreOverrideCursor()
            self._predictions_model = model
        return self._predictions

    @Slot(object)
    def _on_gallery_test_image_chosen(self, image: TestImage) -> None:
        self.predict_requested.emit(image)
