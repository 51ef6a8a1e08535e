"""What the long-running dialogs (batch export, fine-tune) share: a relay that shows
them the full progress records their job yields, and the time-left text.

`JobRunner.progress` carries only (done, total, stage); the engine's batch and
fine-tune jobs yield richer records (`BatchProgress` with the current file,
`FinetuneStatus` with the loss, the metric and a preview). `ProgressRelay.wrap`
passes a job through unchanged and emits each record as `reported`; the signal is
emitted on the worker thread and delivered queued on the relay's (GUI) thread.
"""
from __future__ import annotations

from typing import Generator

from PySide6.QtCore import QObject, Signal

import engine


class ProgressRelay(QObject):
    """Emits every record a wrapped job yields, on the thread the relay lives in."""

    reported = Signal(object)    # the engine's Progress record, e.g. a FinetuneStatus

    def wrap(self, job: Generator[engine.Progress, None, object]) -> Generator[engine.Progress, None, object]:
        """`job`, yielding and returning the same; closing the wrapper closes `job` (cancel clean-up)."""
        try:
            while True:
                try:
                    record = next(job)
                except StopIteration as stop:
                    return stop.value
                self.reported.emit(record)
                yield record
        finally:
            job.close()


def time_left(elapsed: float, fraction: float) -> str:
    """'about 3 min left' from the seconds spent on the first `fraction` of a job; '' too early to tell."""
    if not 0.01 <= fraction < 1 or elapsed < 2:
        return ""
    seconds = elapsed * (1 - fraction) / fraction
    if seconds < 60:
        return f"about {max(1, round(seconds))} s left"
    minutes = round(seconds / 60)
    return f"about {minutes} min left" if minutes < 60 else f"about {minutes // 60} h {minutes % 60} min left"
