"""The Builder's undo steps: each swaps one whole (immutable) document for another."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtGui import QUndoCommand

from fashion_desktop.core.spec import ModelSpec


@dataclass(frozen=True)
class Document:
    """What one undo step swaps: the network, the Preset box's choice, and the training settings a preset set."""

    spec: ModelSpec
    preset: str
    settings: object | None = None  # None: this step leaves the training settings as they are


class SpecSwap(QUndoCommand):
    """One edit: the state before and after it. ModelSpec is immutable, so undo just shows the old one again."""

    def __init__(
        self,
        show: Callable[[Document, int], None],
        before: Document,
        after: Document,
        text: str,
        select_before: int,
        select_after: int,
        merge_key: object = None,
    ) -> None:
        super().__init__(text)
        self._show, self._before, self._after = show, before, after
        self._select_before, self._select_after = select_before, select_after
        self._merge_key = merge_key  # consecutive edits of the same option become one undo step

    def id(self) -> int:
        return 1 if self._merge_key is not None else -1

    def mergeWith(self, other: QUndoCommand) -> bool:
        if not isinstance(other, SpecSwap) or other._merge_key != self._merge_key:
            return False
        self._after, self._select_after = other._after, other._select_after
        self.setObsolete(self._after == self._before)
        return True

    def redo(self) -> None:
        self._show(self._after, self._select_after)

    def undo(self) -> None:
        self._show(self._before, self._select_before)
