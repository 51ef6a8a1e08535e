"""gui.worker.JobRunner: a real worker thread driving job generators."""
import threading
import time

import pytest

import engine
from gui.worker import JobRunner

TIMEOUT = 20000


@pytest.fixture
def runner(qtbot):
    jobs = JobRunner()
    events = []
    jobs.started.connect(lambda kind: events.append(("started", kind)))
    jobs.progress.connect(lambda done, total, stage: events.append(("progress", done, total, stage)))
    jobs.result.connect(lambda kind, value: events.append(("result", kind, value)))
    jobs.error.connect(lambda kind, message: events.append(("error", kind, message)))
    jobs.cancelled.connect(lambda kind: events.append(("cancelled", kind)))
    jobs.finished.connect(lambda kind: events.append(("finished", kind)))
    jobs.events = events
    yield jobs
    jobs.shutdown()


def counting(n, threads=None):
    def job(token):
        if threads is not None:
            threads.append(threading.current_thread())
        for i in range(n):
            yield engine.Progress(i + 1, n, "counting")
        return f"counted {n}"
    return job


def slow(checks_token):
    def job(token):
        for i in range(500):
            time.sleep(0.01)
            if checks_token:
                token.raise_if_cancelled()
            yield engine.Progress(i, 500, "slow")
        return "should not get here"
    return job


def test_result_arrives_after_progress_on_the_gui_thread(qtbot, runner):
    threads = []
    with qtbot.waitSignal(runner.finished, timeout=TIMEOUT):
        assert runner.submit("count", counting(3, threads))
        assert runner.busy
    assert threads and threads[0] is not threading.main_thread()
    assert runner.events == [("started", "count"), ("progress", 1, 3, "counting"), ("progress", 2, 3, "counting"),
                             ("progress", 3, 3, "counting"), ("result", "count", "counted 3"),
                             ("finished", "count")]
    assert not runner.busy


def test_a_second_job_is_refused_while_busy_and_accepted_after(qtbot, runner):
    with qtbot.waitSignal(runner.progress, timeout=TIMEOUT):
        assert runner.submit("slow", slow(checks_token=True))
    assert not runner.submit("count", counting(1))
    with qtbot.waitSignal(runner.finished, timeout=TIMEOUT):
        runner.cancel()
    with qtbot.waitSignal(runner.finished, timeout=TIMEOUT):
        assert runner.submit("count", counting(1))
    assert ("result", "count", "counted 1") in runner.events


@pytest.mark.parametrize("checks_token", [True, False], ids=["job-checks", "job-ignores-token"])
def test_cancel_stops_at_the_next_yield(qtbot, runner, checks_token):
    with qtbot.waitSignal(runner.progress, timeout=TIMEOUT):
        runner.submit("slow", slow(checks_token))
    with qtbot.waitSignals([runner.cancelled, runner.finished], order="strict", timeout=TIMEOUT):
        runner.cancel()
    kinds = [e[0] for e in runner.events]
    assert "result" not in kinds and "error" not in kinds
    assert kinds[-2:] == ["cancelled", "finished"]


def test_cancelling_closes_the_generator(qtbot, runner):
    cleaned = []

    def job(token):
        try:
            while True:
                time.sleep(0.01)
                yield engine.Progress(0, 1, "waiting")
        finally:
            cleaned.append(True)

    with qtbot.waitSignal(runner.progress, timeout=TIMEOUT):
        runner.submit("wait", job)
    with qtbot.waitSignal(runner.finished, timeout=TIMEOUT):
        runner.cancel()
    assert cleaned == [True]


def test_restora_error_becomes_its_message(qtbot, runner):
    def job(token):
        yield engine.Progress(0, 1)
        raise engine.ImageReadError("scan.png", "the file is truncated")

    with qtbot.waitSignal(runner.finished, timeout=TIMEOUT):
        runner.submit("load", job)
    assert ("error", "load", "scan.png: the file is truncated") in runner.events


def test_unexpected_error_is_named_and_logged(qtbot, runner, capsys):
    def job(token):
        raise ValueError("boom")
        yield  # a generator function

    with qtbot.waitSignal(runner.finished, timeout=TIMEOUT):
        runner.submit("bug", job)
    assert ("error", "bug", "Unexpected error: ValueError: boom") in runner.events
    assert "Traceback" in capsys.readouterr().err


def test_shutdown_with_a_running_job_returns(qtbot, runner):
    with qtbot.waitSignal(runner.progress, timeout=TIMEOUT):
        runner.submit("slow", slow(checks_token=True))
    started = time.monotonic()
    runner.shutdown()
    assert time.monotonic() - started < 5
    assert not runner.submit("count", counting(1))


def test_warm_up_loads_the_engine_jobs_and_jobs_still_run(qtbot, runner):
    import sys

    with qtbot.waitSignal(runner.warmed_up, timeout=60000):
        runner.warm_up()
    assert all(f"engine.ops.{name}" in sys.modules for name in ("restore", "segment", "repair", "upscale"))
    with qtbot.waitSignal(runner.finished, timeout=TIMEOUT):
        assert runner.submit("count", counting(2))
    assert ("result", "count", "counted 2") in runner.events
