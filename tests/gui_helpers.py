"""Helpers shared by the GUI tests (their `window` and `errors` fixtures are in conftest.py)."""
import numpy as np
from PIL import Image as PILImage

TIMEOUT = 20000


def write_png(path, height=48, width=64, channels=3, seed=0):
    rng = np.random.default_rng(seed)
    data = rng.integers(0, 256, (height, width, channels) if channels > 1 else (height, width), dtype=np.uint8)
    PILImage.fromarray(data).save(path)
    return path


def open_image(qtbot, window, path, ok=True):
    """Open `path` in `window` and wait until it is open (or, with ok=False, refused)."""
    with qtbot.waitSignal(window.open_finished, timeout=TIMEOUT) as blocker:
        window.open_path(str(path))
    assert blocker.args == [str(path), ok]
    return window.document


def run_tool(qtbot, window, start):
    with qtbot.waitSignal(window.jobs.finished, timeout=TIMEOUT):
        assert start()


def with_warnings(qtbot, monkeypatch, dialog, module: str):
    """Register `dialog` with qtbot and collect the texts of its QMessageBox.warning
    calls (made in `module`) in `dialog.warnings` instead of showing them."""
    qtbot.addWidget(dialog)
    dialog.warnings = []
    monkeypatch.setattr(f"{module}.QMessageBox.warning", lambda *args: dialog.warnings.append(args[2]))
    return dialog
