"""Process pools whose workers stop with their parent, and how a worker process that
handles large images keeps its freed memory.

Workers ignore Ctrl-C and leave it to the parent, which terminates them at once when it is
interrupted (SIGTERM counts as Ctrl-C, see :func:`qualitylab.cli.run`),
so that no worker keeps computing after its command has ended.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
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


# glibc's mallopt parameters (malloc.h) and the values set by retain_freed_memory: arrays
# up to the mmap threshold come from the heap, and up to the trim threshold of freed heap
# stays in the process. 32 MiB is the largest mmap threshold glibc accepts on 64-bit.
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_TRIM_BYTES, _MMAP_BYTES = 512 * 2**20, 32 * 2**20


@functools.cache
def retain_freed_memory() -> bool:
    """Make this process reuse the memory of freed large arrays instead of returning it to
    the system; False where the C library offers no such setting (not glibc).

    By default glibc hands every freed array of more than a few MB back to the system, so
    the next one of that size is faulted in and zeroed page by page again: per frame of
    720p video that is several new planes, and the page faults took about a third of the
    classical extractors' time (see benchmarks/README.md). The resident memory of the
    process then stays at its peak instead of shrinking between videos. Acts once per
    process; later calls return the first call's answer.
    """
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"))
        mallopt = libc.mallopt
    except (OSError, AttributeError, TypeError):
        return False
    return bool(mallopt(_M_MMAP_THRESHOLD, _MMAP_BYTES) and mallopt(_M_TRIM_THRESHOLD, _TRIM_BYTES))
