"""The Learn tab: a list of experiments on the left, the chosen experiment's page on the right."""

from __future__ import annotations

from PySide6.QtCore import Signal, Slot
from PySide6.QtWidgets import QHBoxLayout, QListWidget, QStackedWidget, QWidget

from fashion_desktop.core.learn import OptimizerChoice
from fashion_desktop.gui.learn.initialisation import InitialisationPage
from fashion_desktop.gui.learn.optimizers import OptimizersPage
from fashion_desktop.gui.learn.page import ExperimentPage
from fashion_desktop.gui.learn.pages import ActivationsPage, AveragePage, BatchesPage, LossesPage, SchedulesPage


class LearnTab(QWidget):
    """Seven experiments; each redraws as its controls move, and only while it is shown.

    Signals:
        optimizer_chosen: an OptimizerChoice to train with (its ``optimizer`` and ``options``).
        init_chosen: (scheme, options): a weight initialisation for the Builder's network.
        status_message: a line for the status bar.
    """

    optimizer_chosen = Signal(object)
    init_chosen = Signal(str, object)
    status_message = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.activations = ActivationsPage()
        self.initialisation = InitialisationPage()
        self.losses = LossesPage()
        self.average = AveragePage()
        self.optimizers = OptimizersPage()
        self.schedules = SchedulesPage()
        self.batches = BatchesPage()
        self.pages: list[ExperimentPage] = [
            self.activations,
            self.initialisation,
            self.losses,
            self.average,
            self.optimizers,
            self.schedules,
            self.batches,
        ]
        self.page_list = QListWidget()
        self.stack = QStackedWidget()
        for page in self.pages:
            self.page_list.addItem(page.title)
            self.stack.addWidget(page)
        self.page_list.setFixedWidth(self.page_list.sizeHintForColumn(0) + 24)
        layout = QHBoxLayout(self)
        layout.addWidget(self.page_list)
        layout.addWidget(self.stack, 1)
        self.page_list.currentRowChanged.connect(self.stack.setCurrentIndex)
        self.page_list.setCurrentRow(0)
        self.initialisation.init_chosen.connect(self._on_initialisation_init_chosen)
        self.optimizers.optimizer_chosen.connect(self._on_optimizers_optimizer_chosen)

    def on_core_ready(self) -> None:
        """PyTorch has loaded: the experiments that run it can draw."""
        for page in self.pages:
            page.on_core_ready()

    def show_page(self, page: ExperimentPage) -> None:
        self.page_list.setCurrentRow(self.pages.index(page))

    @Slot(str, object)
    def _on_initialisation_init_chosen(self, scheme: str, options: object) -> None:
        self.init_chosen.emit(scheme, options)
        self.status_message.emit(f"The Builder's Linear and Conv2d layers now start from {scheme} weights")

    @Slot(object)
    def _on_optimizers_optimizer_chosen(self, choice: OptimizerChoice) -> None:
        self.optimizer_chosen.emit(choice)
        self.status_message.emit(f"The Training tab now trains with {choice.label} ({choice.optimizer})")
