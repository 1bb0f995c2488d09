"""The Training tab's progress: a bar for the epoch, one for the whole run, and the speed and time left."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFormLayout, QGroupBox, QHBoxLayout, QLabel, QProgressBar, QWidget

from fashion_desktop.core.metrics import BatchMetrics, FitInfo
from fashion_desktop.gui.training_worker import DataProgress


class ProgressPanel(QGroupBox):
    """Shows how far a download or a training run has come; the tab tells it what happened."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Progress", parent)
        self.epoch_bar = QProgressBar()
        self.run_bar = QProgressBar()
        self.speed_label = QLabel()
        self.speed_label.setMinimumWidth(230)
        self.speed_label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        layout = QFormLayout(self)
        layout.addRow("Epoch", self.epoch_bar)
        run_row = QHBoxLayout()
        run_row.addWidget(self.run_bar, 1)
        run_row.addWidget(self.speed_label)
        layout.addRow("Run", run_row)
        # (training seconds, images done) at the run's first batch report: the speed is measured from there, so
        # the first batch's warm-up (and a continued run's loading of its model) does not count as slow training.
        self._speed_origin: tuple[float, int] | None = None
        self._paused = False

    def show_busy(self) -> None:
        """Busy, with no measure yet: the data loading, a download before its first report."""
        self.epoch_bar.reset()
        self.run_bar.setRange(0, 0)
        self.speed_label.clear()

    def show_download(self, progress: DataProgress) -> None:
        self.run_bar.setRange(0, 1000)
        self.run_bar.setValue(progress.done * 1000 // max(1, progress.total))
        megabytes = f"{progress.done / 1e6:.1f} of {progress.total / 1e6:.1f} MB"
        self.run_bar.setFormat(f"Downloading {progress.title}: {megabytes}")

    def show_fit_start(self, info: FitInfo) -> None:
        self.epoch_bar.setRange(0, info.train_size)
        self.epoch_bar.setFormat(f"Epoch {info.start_epoch + 1} of {info.epochs}: %p%")
        self.run_bar.setRange(0, max(1, (info.epochs - info.start_epoch) * info.train_size))
        self.run_bar.setValue(0)
        self.run_bar.setFormat("%p%")
        self._speed_origin, self._paused = None, False
        self.setTitle("Progress")
        self.speed_label.setText("measuring the speed...")

    def show_batch(self, info: FitInfo, last: BatchMetrics, seconds: float) -> None:
        """The progress up to batch ``last``, ``seconds`` of training (pauses left out) into the run."""
        done = (last.epoch - 1 - info.start_epoch) * info.train_size + last.samples_seen
        self.epoch_bar.setFormat(f"Epoch {last.epoch} of {info.epochs}: %p%")
        self.epoch_bar.setValue(last.samples_seen)
        self.run_bar.setValue(done)
        if self._paused:  # a batch reported just after the pause must not overwrite "Paused"
            return
        if self._speed_origin is None:
            self._speed_origin = (seconds, done)
            return
        origin_seconds, origin_done = self._speed_origin
        if done > origin_done and seconds > origin_seconds:
            rate = (done - origin_done) / (seconds - origin_seconds)
            left = (self.run_bar.maximum() - done) / rate
            self.speed_label.setText(f"{rate:,.0f} images/s, {duration(left)} left")

    def set_paused(self, paused: bool) -> None:
        """Say "Paused" in the title and the speed line: the time left stands still until training resumes."""
        self._paused = paused
        self.setTitle("Progress: paused" if paused else "Progress")
        if paused:
            self.speed_label.setText("Paused: press Resume to go on")

    def show_trained(self, seconds: float) -> None:
        """The run is over after ``seconds`` of training: its average speed."""
        images = self.run_bar.value()
        rate = f"{images / seconds:,.0f} images/s, " if seconds > 0 and images > 0 else ""
        self.speed_label.setText(f"{rate}trained for {duration(seconds)}")

    def reset(self) -> None:
        """Empty bars without text, as before any training."""
        self._paused = False
        self.setTitle("Progress")
        self.epoch_bar.reset()
        self.run_bar.setRange(0, 1)
        self.run_bar.reset()


def duration(seconds: float) -> str:
    """``1:05`` or ``2:03:09``."""
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"
