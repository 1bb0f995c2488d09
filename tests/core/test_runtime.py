"""Threads: the GUI thread keeps to one core while threads that train get the rest."""

import threading

import torch

from fashion_desktop.core.runtime import keep_this_thread_on_one_core


def threads_seen_by_a_new_thread(set_first: int | None = None) -> int:
    seen = []

    def work():
        if set_first is not None:
            torch.set_num_threads(set_first)
        torch.zeros(1).add_(1)
        seen.append(torch.get_num_threads())

    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
    return seen[0]


def test_the_calling_thread_keeps_one_core_and_new_threads_get_the_rest():
    torch.set_num_threads(2)
    keep_this_thread_on_one_core()
    assert torch.get_num_threads() == 1
    assert threads_seen_by_a_new_thread() == 2
    assert threads_seen_by_a_new_thread(set_first=3) == 3  # a training thread may choose its own count...
    assert torch.get_num_threads() == 1  # ...and the calling thread keeps its one core regardless
