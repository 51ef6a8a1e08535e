"""The editor's one worker thread: runs engine job generators off the GUI thread
and reports on them through Qt signals (ARCHITECTURE section 4).

`JobRunner` lives on the GUI thread and owns a QThread with a `_JobWorker` moved
to it. A job is a callable taking a `CancelToken` and returning a generator that
yields `engine.Progress` and returns its result. One job runs at a time: a
`submit` while a job is running is refused (it returns False), so the window
disables its tools while busy. Cancelling only sets the token; the job stops at
its next yield and reports `cancelled` instead of a result. Every job ends with
`finished`, after exactly one of `result`, `error` or `cancelled`.

`warm_up` loads the engine's compute code (and with it torch) on the worker
thread ahead of the first job: loading torch holds Python's GIL for a few hundred
milliseconds, which would otherwise freeze the window just after the first click.
"""
from __future__ import annotations

import sys
import traceback
from typing import Callable, Generator

from PySide6.QtCore import QObject, QThread, Signal, Slot

import engine

JobFunction = Callable[[engine.CancelToken], Generator[engine.Progress, None, object]]
ENGINE_JOBS = ("restore", "detect_damage", "repair", "upscale")   # loaded by `warm_up`


class _JobWorker(QObject):
    """Runs on the worker thread: drives one job generator to its end."""

    started = Signal(str)
    progressed = Signal(int, int, str)
    succeeded = Signal(str, object)
    failed = Signal(str, str)
    cancelled = Signal(str)
    finished = Signal(str)
    warmed_up = Signal()

    @Slot()
    def warm_up(self) -> None:
        try:
            for name in ENGINE_JOBS:
                getattr(engine, name)  # the engine imports a job's module (and torch) on first access
        except Exception:  # noqa: BLE001 - the job that needs the module reports the problem
            traceback.print_exc(file=sys.stderr)
        finally:
            self.warmed_up.emit()

    @Slot(str, object, object)
    def run(self, kind: str, fn: JobFunction, token: engine.CancelToken) -> None:
        self.started.emit(kind)
        try:
            value = self._drive(fn(token), token)
        except engine.Cancelled:
            self.cancelled.emit(kind)
        except engine.RestoraError as exc:
            self.failed.emit(kind, str(exc))
        except Exception as exc:  # a bug, not a user error: keep the editor alive, log the trace
            traceback.print_exc(file=sys.stderr)
            self.failed.emit(kind, f"Unexpected error: {type(exc).__name__}: {exc}")
        else:
            self.succeeded.emit(kind, value)
        finally:
            self.finished.emit(kind)

    def _drive(self, job: Generator, token: engine.CancelToken) -> object:
        def report(p: engine.Progress) -> None:
            self.progressed.emit(p.done, p.total, p.stage)
            token.raise_if_cancelled()  # stop at this yield even if the job does not check

        try:
            value = engine.run_job(job, report)
        finally:
            job.close()  # lets the job's own clean-up (finally blocks) run on cancel or error
        token.raise_if_cancelled()  # cancelled after the last yield: the person asked for no change
        return value


class JobRunner(QObject):
    """One worker thread for the editor's long jobs; all signals arrive on the GUI thread."""

    started = Signal(str)                 # kind
    progress = Signal(int, int, str)      # done, total, stage
    result = Signal(str, object)          # kind, the job's return value
    error = Signal(str, str)              # kind, a message for the person
    cancelled = Signal(str)               # kind
    finished = Signal(str)                # kind; always comes, last
    warmed_up = Signal()                  # `warm_up` has loaded the engine's compute code

    _submitted = Signal(str, object, object)
    _warm_up_requested = Signal()

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._token: engine.CancelToken | None = None
        self._thread = QThread(self)
        self._thread.setObjectName("restora-worker")
        self._worker = _JobWorker()
        self._worker.moveToThread(self._thread)
        self._thread.finished.connect(self._worker.deleteLater)
        self._submitted.connect(self._worker.run)
        self._warm_up_requested.connect(self._worker.warm_up)
        self._worker.warmed_up.connect(self.warmed_up)
        self._worker.started.connect(self.started)
        self._worker.progressed.connect(self.progress)
        self._worker.succeeded.connect(self.result)
        self._worker.failed.connect(self.error)
        self._worker.cancelled.connect(self.cancelled)
        self._worker.finished.connect(self._on_finished)
        self._thread.start()

    @property
    def busy(self) -> bool:
        """True from a successful `submit` until its `finished` has been emitted."""
        return self._token is not None

    def submit(self, kind: str, fn: JobFunction) -> bool:
        """Run `fn(token)`'s generator on the worker thread; False (and nothing runs)
        if a job is already running or the runner has shut down."""
        if self.busy or not self._thread.isRunning():
            return False
        self._token = engine.CancelToken()
        self._submitted.emit(kind, fn, self._token)
        return True

    def warm_up(self) -> None:
        """Load the engine's compute code on the worker thread now (a job submitted
        meanwhile starts after it); `warmed_up` follows."""
        if self._thread.isRunning():
            self._warm_up_requested.emit()

    def cancel(self) -> None:
        """Ask the running job to stop at its next yield; no-op when idle."""
        if self._token is not None:
            self._token.cancel()

    def shutdown(self) -> None:
        """Cancel any job and stop the thread, waiting for it (call before exit; idempotent)."""
        self.cancel()
        if self._thread.isRunning():
            self._thread.quit()
            self._thread.wait()

    @Slot(str)
    def _on_finished(self, kind: str) -> None:
        self._token = None  # idle before `finished` goes out, so its handlers may submit again
        self.finished.emit(kind)
