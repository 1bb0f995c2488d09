"""The Learn tab: small live experiments that show what each setting of a network and its training does."""

from fashion_desktop.gui.learn.tab import LearnTab

__all__ = ["LearnTab"]
