"""Work shared out among forked worker processes that report progress through one counter: how
a rebuild (a read model from its topic, the oversight ledger from every topic) uses every core."""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from typing import Any, TypeVar

Job = TypeVar("Job")
Result = TypeVar("Result")


class InProcessCounter:
    """The progress counter of work run in the calling process (a multiprocessing.Value's
    interface: `value`, `get_lock()`), passing each new value on."""

    def __init__(self, on_progress: Callable[[int], None]) -> None:
        self._on_progress = on_progress
        self._value = 0

    @property
    def value(self) -> int:
        return self._value

    @value.setter
    def value(self, value: int) -> None:
        self._value = value
        self._on_progress(value)

    def get_lock(self) -> contextlib.nullcontext[None]:
        return contextlib.nullcontext()


def add_progress(progress: Any, count: int) -> None:
    """Add `count` to the shared counter (a worker's or the in-process one)."""
    with progress.get_lock():
        progress.value += count


_progress: Any = None


def _init_worker(progress: Any, collect_garbage: bool) -> None:
    global _progress
    _progress = progress
    gc.freeze()  # what the parent had is never garbage here: not to be scanned again and again
    if not collect_garbage:
        gc.disable()  # for the worker's life, which ends with the pool


def _run(work: Callable[[Job, Any], Result], job: Job) -> Result:
    return work(job, _progress)


async def in_workers(work: Callable[[Job, Any], Result], jobs: Sequence[Job],
                     on_progress: Callable[[int], None], *, collect_garbage: bool = True
                     ) -> list[Result]:
    """`work(job, progress)` for each job, each in a forked process of its own (in a thread of
    this one when there is a single job: starting a process would cost more), answered in the
    jobs' order. `on_progress` hears the total the jobs have added to `progress` so far.

    `work` must be a module-level function (it is sent to the worker by reference). With
    `collect_garbage` false the workers run without the cyclic garbage collector: work that keeps
    many objects alive to its end, and makes no reference cycles worth collecting, spends much
    of its time in collections otherwise.
    """
    if len(jobs) <= 1:
        return [await asyncio.to_thread(work, job, InProcessCounter(on_progress))
                for job in jobs]
    # Forked, not spawned: spawning re-runs the caller's main module, which a script need not
    # guard. The child leaves the inherited sockets alone (asyncio knows the loop running in the
    # parent is not its own) and ends with os._exit, closing nothing of the parent's.
    context = get_context("fork")
    progress = context.Value("q", 0)
    loop = asyncio.get_running_loop()
    with ProcessPoolExecutor(len(jobs), mp_context=context, initializer=_init_worker,
                             initargs=(progress, collect_garbage)) as pool:
        done = asyncio.gather(*(loop.run_in_executor(pool, _run, work, job) for job in jobs))
        while not done.done():
            await asyncio.wait([done], timeout=0.1)
            on_progress(progress.value)
        return list(await done)
