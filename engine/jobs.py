"""Driving job generators: every long operation yields Progress and returns its result."""
from __future__ import annotations

from typing import Callable, Generator, TypeVar

from .errors import OutOfMemoryError
from .types import Progress

T = TypeVar("T")


def run_job(job: Generator[Progress, None, T], on_progress: Callable[[Progress], None] | None = None) -> T:
    """Iterate `job` to the end, passing each Progress to `on_progress`; return its result.
    Running out of memory part-way is a RestoraError that says so (the caller goes on)."""
    while True:
        try:
            p = next(job)
        except StopIteration as stop:
            return stop.value
        except MemoryError as exc:
            raise OutOfMemoryError(exc) from exc
        if on_progress is not None:
            on_progress(p)


def sub_progress(job: Generator[Progress, None, T], index: int, count: int, stage: str | None = None,
                 make: Callable[[int, int, Progress], Progress] | None = None) -> Generator[Progress, None, T]:
    """Re-scale a sub-job's progress as part `index` of `count` equal parts (e.g. mask then fill).
    `make(done, total, inner)` builds a richer record than Progress(done, total, stage)."""
    while True:
        try:
            p = next(job)
        except StopIteration as stop:
            return stop.value
        steps = max(1, p.total)
        done, total = index * steps + p.done, count * steps
        yield make(done, total, p) if make else Progress(done, total, stage or p.stage)
