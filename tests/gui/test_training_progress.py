"""The Training tab's progress line: the speed and time left it derives from the batch reports."""

from fashion_desktop.core.metrics import BatchMetrics, FitInfo
from fashion_desktop.gui.training.progress import ProgressPanel


def test_the_speed_after_continue_leaves_out_the_first_batchs_warm_up(qtbot):
    # A run continued from epoch 5 of 10: its first batch report comes late (the model and data loading,
    # the first batch's warm-up), and dividing by that time showed "169 images/s, 16:10 left".
    panel = ProgressPanel()
    qtbot.addWidget(panel)
    info = FitInfo(epochs=10, start_epoch=5, batches_per_epoch=100, train_size=10_000, val_size=0, device="cpu")
    panel.show_fit_start(info)
    assert panel.speed_label.text() == "measuring the speed..."
    panel.show_batch(info, BatchMetrics(6, 1, 100, 0.5, 100), seconds=5.0)
    assert panel.speed_label.text() == "measuring the speed..."
    panel.show_batch(info, BatchMetrics(6, 11, 100, 0.5, 1_100), seconds=6.0)  # 1,000 images in the last second
    assert panel.speed_label.text() == "1,000 images/s, 0:49 left"  # 48,900 images of 5 epochs left
