"""Screenshots of the real editor for the README: `make screenshots`.

Runs the editor under Xvfb (started here on a free display when DISPLAY is not
set) and drives it from inside: opens a page, restores it and compares before and
after; opens an old photo, detects its damage and shows the mask, paints on the
mask with the brush, repairs it and compares; upscales a small photo x4 and
compares it with the original; and saves each step with QWidget.grab() as PNG
into docs/screenshots/.

    python scripts/screenshots.py [PAGE [DAMAGED_IMAGE]] [--out DIR]

PAGE defaults to ../shared/datasets/docs/dirty/train/101.png. DAMAGED_IMAGE
defaults to an old-photo-like picture the damage generator makes from a held-out
BSD200 photo (engine.training.synth_damage.old_photo). The installed models are
used; while no damage detector is installed, the mask shot shows damage painted
with the brush instead of a detection.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PAGE = ROOT.parent / "shared" / "datasets" / "docs" / "dirty" / "train" / "101.png"
DEFAULT_PHOTO = ROOT.parent / "shared" / "datasets" / "sr" / "Set14" / "baboon.png"
DEFAULT_OLD = ROOT.parent / "shared" / "datasets" / "sr" / "BSD200" / "232038.png"  # held out from training
WINDOW_SIZE = (1360, 860)
JOB_TIMEOUT_MS = 300_000


def start_display() -> subprocess.Popen | None:
    """Start Xvfb on a free display unless there is a display (or offscreen was asked for)."""
    if os.environ.get("DISPLAY") or os.environ.get("QT_QPA_PLATFORM") == "offscreen":
        return None
    if shutil.which("Xvfb") is None:
        print("Xvfb not found: rendering offscreen", file=sys.stderr)
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
        return None
    read, write = os.pipe()
    server = subprocess.Popen(["Xvfb", "-displayfd", str(write), "-screen", "0", "1400x900x24", "-nolisten", "tcp"],
                              pass_fds=(write,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(write)
    with os.fdopen(read) as pipe:
        number = pipe.readline().strip()
    if not number:
        server.kill()
        raise SystemExit("Xvfb did not start")
    os.environ["DISPLAY"] = f":{number}"
    os.environ.setdefault("QT_QPA_PLATFORM", "xcb")
    return server


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("page", nargs="?", default=str(DEFAULT_PAGE), help="a dirty scanned page")
    parser.add_argument("damaged", nargs="?", help="a damaged photo for the mask shots (default: the page)")
    parser.add_argument("--photo", default=str(DEFAULT_PHOTO), help="a small photo for the upscale shot")
    parser.add_argument("--out", default=str(ROOT / "docs" / "screenshots"), help="where the PNGs go")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    server = start_display()
    data = tempfile.TemporaryDirectory(prefix="restora-shots-")
    try:
        sys.path.insert(0, str(ROOT))
        damaged = Path(args.damaged) if args.damaged else make_old_photo(Path(data.name) / "old-photo.png")
        return take_screenshots(Path(args.page), damaged, Path(args.photo), out, Path(data.name))
    finally:
        data.cleanup()
        if server is not None:
            server.terminate()
            server.wait()


def make_old_photo(path: Path) -> Path:
    """Write an old-photo-like damaged picture (made by the damage generator) to `path`."""
    import numpy as np
    from PIL import Image

    from engine import to_uint8
    from engine.training.synth_damage import old_photo

    clean = np.asarray(Image.open(DEFAULT_OLD).convert("RGB"), np.float32) / 255
    _, damaged, _ = old_photo(np.random.default_rng(3), clean)
    Image.fromarray(to_uint8(damaged)).save(path)
    return path


def take_screenshots(page: Path, damaged: Path, photo: Path, out: Path, scratch: Path) -> int:
    from PySide6.QtCore import QEventLoop, QPoint, QPointF, QSettings, Qt, QTimer
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication

    import engine

    app = QApplication.instance() or QApplication(["restora"])
    from gui.main_window import MainWindow
    from gui.theme import apply_theme, icon

    apply_theme(app)
    app.setWindowIcon(icon("auto-fix"))
    window = MainWindow(settings=QSettings(str(scratch / "settings.ini"), QSettings.Format.IniFormat))
    failures = []
    window._show_error = lambda title, message: failures.append(f"{title}: {message}")  # no modal box to block on
    window.ok_to_discard = lambda: True          # nor an "unsaved changes?" question
    for combo in (window.panel.restore_model, window.panel.mask_model, window.panel.repair_model):
        installed = [i for i in range(combo.count()) if not combo.itemText(i).endswith("(not installed)")]
        if installed and combo.currentIndex() not in installed:
            combo.setCurrentIndex(installed[0])
    window.resize(*WINDOW_SIZE)
    window.show()

    def settle(ms: int = 150) -> None:
        loop = QEventLoop()
        QTimer.singleShot(ms, loop.quit)
        loop.exec()

    def run(start) -> None:
        loop = QEventLoop()
        window.jobs.finished.connect(loop.quit)
        QTimer.singleShot(JOB_TIMEOUT_MS, loop.quit)
        if start():
            loop.exec()
        window.jobs.finished.disconnect(loop.quit)
        settle()

    def open_file(path) -> bool:
        loop, result = QEventLoop(), []

        def finished(_path: str, ok: bool) -> None:
            result.append(ok)
            loop.quit()

        window.open_finished.connect(finished)
        window.open_path(str(path))
        loop.exec()
        window.open_finished.disconnect(finished)
        window.view.fit_to_window()     # fill the window (a small image opens at 100%)
        return result == [True]

    def save(name: str, widget=None) -> None:
        settle()
        path = out / name
        (widget or window).grab().save(str(path))
        print(f"wrote {path}")

    def viewport_point(x: float, y: float) -> QPoint:
        return window.view.mapFromScene(QPointF(x, y))

    if not open_file(page):
        return 1
    settle(300)
    save("1-open.png")

    run(window.restore_document)
    window.compare_action.setChecked(True)
    window.view.set_split(0.5)
    save("2-compare.png")
    window.compare_action.setChecked(False)

    if damaged != page and not open_file(damaged):
        return 1
    size = window.view.image_size()
    w, h = size.width(), size.height()
    port = window.view.viewport()

    def paint(strokes) -> None:
        """Drag the brush through each stroke's points (fractions of the image size)."""
        for stroke in strokes:
            points = [viewport_point(fx * w, fy * h) for fx, fy in stroke]
            QTest.mousePress(port, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, points[0])
            for a, b in zip(points, points[1:]):
                for i in range(1, 11):
                    QTest.mouseMove(port, QPoint(round(a.x() + (b.x() - a.x()) * i / 10),
                                                 round(a.y() + (b.y() - a.y()) * i / 10)))
            QTest.mouseRelease(port, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, points[-1])

    window.brush_tool_action.trigger()
    window.panel.set_brush_size(max(4, round(w / 40)))
    if not engine.list_models("mask"):  # no damage detector installed yet: paint the damage by hand
        paint([((0.08, 0.22), (0.30, 0.26), (0.52, 0.21)), ((0.60, 0.80), (0.75, 0.62), (0.93, 0.55))])
    else:
        run(window.detect_damage)
    window.pan_tool_action.trigger()
    save("3-mask.png")

    window.brush_tool_action.trigger()
    window.panel.set_brush_size(max(8, round(w / 20)))
    paint([((0.01, y), (0.5, y), (0.99, y)) for y in (0.935, 0.975)])  # brush strokes along the torn edge
    QTest.mouseMove(port, viewport_point(0.55 * w, 0.85 * h))  # the brush outline, where a stroke goes on
    save("4-brush.png")

    window.pan_tool_action.trigger()
    if engine.list_models("repair"):
        run(window.repair_damage)     # which hides the mask overlay
        window.compare_action.setChecked(True)
        window.view.set_split(0.5)
        save("5-repair.png")
        window.compare_action.setChecked(False)

    if engine.list_models("upscale") and photo.is_file():
        window.pan_tool_action.trigger()
        if not open_file(photo):
            return 1
        run(lambda: window.upscale_image(4))
        window.view.set_zoom(1.0)
        window.view.centerOn(QPointF(window.view.image_size().width() * 0.5, window.view.image_size().height() * 0.3))
        window.compare_action.setChecked(True)
        window.view.set_split(0.5)
        save("6-upscale.png")
        window.compare_action.setChecked(False)

    window.history_dock.hide()  # the Settings panel at its full height
    save("7-panel.png", window.settings_dock)
    window.close()
    for failure in failures:
        print(failure, file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
