"""gui.waiting.wait_for: work off the GUI thread, waited for as for a dialog."""
import time

import pytest
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QWidget

from gui.waiting import wait_for


def test_the_window_keeps_running_while_waiting(qtbot):
    parent = QWidget()
    qtbot.addWidget(parent)
    ticks = []
    timer = QTimer(interval=10)
    timer.timeout.connect(lambda: ticks.append(1))
    timer.start()

    def slow():
        time.sleep(0.3)
        return 42

    assert wait_for(parent, "Work", "Working…", slow) == 42
    timer.stop()
    assert len(ticks) >= 10          # the event loop ran throughout
    assert wait_for(parent, "Work", "Quick…", lambda: "done") == "done"


def test_what_the_work_raises_is_raised(qtbot):
    parent = QWidget()
    qtbot.addWidget(parent)

    def fails():
        time.sleep(0.05)
        raise ValueError("disk full")

    with pytest.raises(ValueError, match="disk full"):
        wait_for(parent, "Work", "Failing…", fails)
