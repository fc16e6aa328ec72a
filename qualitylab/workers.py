"""Process pools whose workers stop with their parent.

Workers ignore Ctrl-C and leave it to the parent, which terminates them at once when it is
interrupted (SIGTERM counts as Ctrl-C, see :func:`qualitylab.cli.run`),
so that no worker keeps computing after its command has ended.
"""

from __future__ import annotations

import multiprocessing
import signal
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from typing import Any


@contextmanager
def worker_pool(
    workers: int, initializer: Callable[..., None] | None = None, initargs: tuple[Any, ...] = ()
) -> Iterator[ProcessPoolExecutor]:
    """A spawn process pool of ``workers``; any exception in the block terminates them."""
    executor = ProcessPoolExecutor(
        workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_start_worker,
        initargs=(initializer, initargs),
    )
    try:
        yield executor
    except BaseException:
        _stop(executor)
        raise
    executor.shutdown()


def _stop(executor: ProcessPoolExecutor) -> None:
    """Terminate the pool's workers and wait for them and for the pool's manager thread,
    so that the interpreter's exit has no thread left to join: a second Ctrl-C during that
    join printed a threading traceback. A Ctrl-C during this wait ends it early."""
    children = multiprocessing.active_children()
    for child in children:
        child.terminate()
    for child in children:
        child.join()
    executor.shutdown(wait=True, cancel_futures=True)


def _start_worker(initializer: Callable[..., None] | None, initargs: tuple[Any, ...]) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if initializer is not None:
        initializer(*initargs)
