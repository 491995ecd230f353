"""Map a function over a stream of items in worker processes, keeping the input order.

Only a few items are in flight at a time, so a stream larger than memory can be mapped, and
the results come back in input order, so what is built from them does not depend on how many
workers there were. Workers are fresh interpreters (not forks: they share nothing with the
parent, whose memory may be large) and they exit as soon as the parent is gone, whatever it
died of.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import TypeVar

from w2v.data.allocator import keep_block_memory
from w2v.errors import W2VError

T = TypeVar("T")
R = TypeVar("R")

# Items waiting or running per worker: enough that no worker idles while the parent reads.
QUEUED_PER_WORKER = 2
# How often a worker checks that its parent is still there, in seconds.
PARENT_CHECK_S = 0.2

_task: Callable[[object], object] | None = None


def available_cpus() -> int:
    """The cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def check_workers(workers: int) -> int:
    if workers < 1:
        raise W2VError(f"--workers must be at least 1, not {workers}")
    return workers


def ordered_map(fn: Callable[[T], R], items: Iterable[T], workers: int) -> Iterator[R]:
    """`map(fn, items)`, run by `workers` processes; with one worker, in this process.

    `fn` must pickle; it is sent to each worker once, so it may carry large data.
    """
    if check_workers(workers) == 1:
        yield from map(fn, items)
        return
    pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                               initializer=_start_worker, initargs=(fn, os.getpid()))
    try:
        pending: deque[Future[R]] = deque()
        for item in items:
            pending.append(pool.submit(_run, item))
            if len(pending) >= QUEUED_PER_WORKER * workers:
                yield _result(pending.popleft())
        while pending:
            yield _result(pending.popleft())
    finally:
        pool.shutdown(cancel_futures=True)


def _result(future: Future[R]) -> R:
    try:
        return future.result()
    except BrokenProcessPool as exc:
        raise W2VError(
            "a worker process died, perhaps for lack of memory; try fewer --workers"
        ) from exc


def _start_worker(fn: Callable[[object], object], parent: int) -> None:
    global _task
    _task = fn
    keep_block_memory()  # the items are blocks of text (w2v.data.allocator)
    # Ctrl-C reaches the whole process group: the parent stops the pool, workers stay quiet.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    threading.Thread(target=_exit_without, args=(parent,), daemon=True).start()


def _exit_without(parent: int) -> None:
    """End this worker once its parent is gone: nobody would read its results."""
    while os.getppid() == parent:
        time.sleep(PARENT_CHECK_S)
    os._exit(1)


def _run(item: object) -> object:
    assert _task is not None
    return _task(item)
