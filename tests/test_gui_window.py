"""The main window end to end: real widgets, the real worker thread, tiny random-weight models."""
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image as PILImage
from PySide6.QtCore import QRect

import engine
from engine.region import FEATHER
from gui.canvas.convert import qimage_to_array
from gui_helpers import TIMEOUT, open_image, run_tool, write_png

ROOT = Path(__file__).resolve().parent.parent


def test_fresh_editor_does_not_import_torch(tmp_path):
    image = write_png(tmp_path / "page.png")
    code = textwrap.dedent("""
        import sys
        from PySide6.QtCore import QSettings, QTimer
        from PySide6.QtWidgets import QApplication
        app = QApplication([])
        from gui.main_window import MainWindow
        w = MainWindow(settings=QSettings(sys.argv[1], QSettings.Format.IniFormat))
        w.show()
        app.processEvents()
        print(w.windowTitle(), "torch" in sys.modules)
        w.close()

        import gui.app
        def check():    # as soon as the image is shown (the worker loads torch 500 ms later)
            shown = [x for x in QApplication.topLevelWidgets() if isinstance(x, MainWindow) and x.isVisible()]
            if not shown or "page.png" not in shown[0].windowTitle():
                QTimer.singleShot(10, check)
                return
            print(shown[0].windowTitle(), "torch" in sys.modules)
            shown[0].close()
        QTimer.singleShot(10, check)
        print("exit", gui.app.run(sys.argv[2]))
    """)
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", PYTHONPATH=str(ROOT), XDG_CONFIG_HOME=str(tmp_path))
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "s.ini"), str(image)], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == ["Restora False", "page.png[*] — Restora False", "exit 0"]


def test_a_folder_on_the_command_line_opens_batch_export(tmp_path):
    code = textwrap.dedent("""
        import sys
        from PySide6.QtWidgets import QApplication
        import gui.app
        from gui.main_window import MainWindow
        MainWindow.show_batch_export = lambda window, folder=None: (print("batch", folder), window.close())
        print("exit", gui.app.run(sys.argv[1]))
    """)
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", PYTHONPATH=str(ROOT), XDG_CONFIG_HOME=str(tmp_path),
               RESTORA_DATA_DIR=str(tmp_path / "data"))
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path)], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [f"batch {tmp_path}", "exit 0"]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="a display is a Linux matter")
def test_without_a_display_the_editor_says_so_instead_of_aborting(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    out = subprocess.run([sys.executable, "main.py"], cwd=ROOT, env=dict(env, XDG_CONFIG_HOME=str(tmp_path)),
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and "no display to open the editor on" in out.stderr
    assert "python main.py --help" in out.stderr and "Traceback" not in out.stderr


def test_no_two_actions_share_a_key(window):
    from PySide6.QtGui import QAction

    owners: dict[str, str] = {}
    for action in window.findChildren(QAction):
        for key in action.shortcuts():
            assert owners.setdefault(key.toString(), action.text()) == action.text(), key.toString()
    assert len(owners) >= 30


def test_open_shows_the_image(qtbot, window, tmp_path):
    path = write_png(tmp_path / "photo.png", 30, 40)
    open_image(qtbot, window, path)
    assert window.windowTitle() == "photo.png[*] — Restora" and not window.isWindowModified()
    assert window.view.zoom() == 1.0                          # a small image opens at 100%...
    window.fit_action.trigger()
    assert window.view.zoom() > 5                             # ...and Fit to Window enlarges it
    assert window.view.image_size().width() == 40 and window.view.image_size().height() == 30
    shown, _ = qimage_to_array(window.view.shown_image())
    np.testing.assert_array_equal(np.round(shown * 255).astype(np.uint8), np.asarray(PILImage.open(path)))
    assert window.restore_action.isEnabled()
    assert window.recent_files() == [str(path)]


def test_open_recent_lists_the_latest_first_and_marks_missing_files(qtbot, window, tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    paths = [write_png(tmp_path / "a" / "scan.png"), write_png(tmp_path / "b" / "scan.png"),
             write_png(tmp_path / "page.png")]
    for path in paths:
        open_image(qtbot, window, path)
    paths[0].unlink()
    window.recent_menu.aboutToShow.emit()
    items = [(a.text(), a.isEnabled()) for a in window.recent_menu.actions() if a.text()]
    assert items == [("&1  page.png", True), ("&2  scan.png  (b)", True), ("&3  scan.png  (a)  (missing)", False),
                     ("Clear Recent", True)]
    with qtbot.waitSignal(window.open_finished, timeout=TIMEOUT) as opened:
        window.recent_menu.actions()[1].trigger()
    assert opened.args == [str(paths[1]), True] and window.recent_files()[0] == str(paths[1])


def test_opening_runs_off_the_gui_thread_and_the_latest_file_wins(qtbot, window, tmp_path):
    first, second = write_png(tmp_path / "first.png"), write_png(tmp_path / "second.png", 30, 40, seed=1)
    with qtbot.waitSignal(window.open_finished, timeout=TIMEOUT) as blocker:
        window.open_path(str(first))
        window.open_path(str(second))
        assert window.document is None          # nothing decoded on this thread: not open yet
    assert blocker.args == [str(second), True]
    qtbot.wait(100)                             # the first file's late result must not replace it
    assert window.document.name == "second.png" and window.document.current.pixels.shape == (30, 40, 3)


def test_open_error_is_shown(qtbot, window, tmp_path, errors):
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not an image at all")
    open_image(qtbot, window, broken, ok=False)
    assert len(errors) == 1 and errors[0][0] == "Cannot open image" and "broken.png" in errors[0][1]
    assert window.document is None and window.windowTitle() == "Restora"


def test_page_down_and_up_walk_the_folder_in_name_order(qtbot, window, tmp_path, unsaved_answers):
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QMessageBox

    from gui.main_window import name_order

    assert sorted(["scan10.png", "Scan9.png", "scan1.png"], key=name_order) == ["scan1.png", "Scan9.png",
                                                                                "scan10.png"]
    for name in ("scan1.png", "Scan9.png", "scan10.png", ".hidden.png", "notes.txt"):
        write_png(tmp_path / name) if name.endswith(".png") else (tmp_path / name).write_text("x")
    assert not window.next_action.isEnabled()                   # nothing open
    open_image(qtbot, window, tmp_path / "Scan9.png")
    with qtbot.waitSignal(window.open_finished, timeout=TIMEOUT) as opened:
        qtbot.keyClick(window.view, Qt.Key.Key_PageDown)        # the canvas has the focus, not the scroll bars
    assert opened.args == [str(tmp_path / "scan10.png"), True]
    assert not window.open_neighbour(1)                         # the last one: stays
    assert window.statusBar().currentMessage() == "scan10.png is the last image in its folder"
    (tmp_path / "scan10.png").unlink()                          # gone since it was opened: its place is known
    with qtbot.waitSignal(window.open_finished, timeout=TIMEOUT) as opened:
        window.previous_action.trigger()
    assert opened.args == [str(tmp_path / "Scan9.png"), True]
    run_tool(qtbot, window, lambda: window.restore_document(engine.RestoreRequest(model="test-restore")))
    unsaved_answers.append(QMessageBox.StandardButton.Cancel)   # unexported edits: asked, and kept
    assert not window.open_neighbour(-1) and window.document.name == "Scan9.png"
    assert len(unsaved_answers.asked) == 1


def test_closing_with_unexported_edits_asks_first(qtbot, window, tmp_path, unsaved_answers, monkeypatch):
    from PySide6.QtWidgets import QMessageBox

    buttons = QMessageBox.StandardButton
    open_image(qtbot, window, write_png(tmp_path / "page.png"))
    assert window.ok_to_discard() and unsaved_answers.asked == []    # nothing to lose: no question
    run_tool(qtbot, window, lambda: window.restore_document(engine.RestoreRequest(model="test-restore")))
    assert window.isWindowModified()
    unsaved_answers.append(buttons.Cancel)
    assert not window.close() and window.isVisible()
    assert len(unsaved_answers.asked) == 1 and "page.png" in unsaved_answers.asked[0]
    # Save: Export As runs; cancelling its file dialog keeps the window open
    exported = []
    monkeypatch.setattr(window, "export_as", lambda: exported.append(True))
    unsaved_answers.append(buttons.Save)
    assert not window.close() and exported == [True]
    # an export that succeeds marks the document saved, and then the window closes
    monkeypatch.setattr(window, "export_as", lambda: window.export_to(str(tmp_path / "out.png")))
    unsaved_answers.append(buttons.Save)
    assert window.close() and (tmp_path / "out.png").is_file()


def test_restore_then_undo_and_redo(qtbot, window, tmp_path):
    open_image(qtbot, window, write_png(tmp_path / "page.png"))
    doc = window.document
    before = doc.current
    run_tool(qtbot, window, lambda: window.restore_document(engine.RestoreRequest(model="test-restore")))
    after = doc.current
    assert after is not before and after.pixels.shape == before.pixels.shape
    assert after.pixels.dtype == np.uint8                      # an 8-bit result is held compactly
    assert not np.array_equal(after.pixels, before.pixels)
    assert doc.modified and window.undo_action.isEnabled()
    window.undo_action.trigger()
    assert doc.current is before and not doc.modified
    window.redo_action.trigger()
    assert doc.current is after
    shown, _ = qimage_to_array(window.view.shown_image())
    np.testing.assert_allclose(shown, after.float_pixels(), atol=1 / 255 + 1e-6)


def test_cancel_leaves_the_document_unchanged(qtbot, window, tmp_path, monkeypatch):
    def slow_restore(image, request, cancel):
        for i in range(500):
            time.sleep(0.01)
            cancel.raise_if_cancelled()
            yield engine.Progress(i, 500, "restoring")
        return image.with_pixels(1.0 - image.pixels)

    monkeypatch.setattr(engine, "restore", slow_restore)
    open_image(qtbot, window, write_png(tmp_path / "page.png"))
    doc, before = window.document, window.document.current
    results = []
    window.jobs.result.connect(lambda kind, value: results.append(kind))
    with qtbot.waitSignal(window.jobs.progress, timeout=TIMEOUT):
        window.restore_document()
    assert window.cancel_button.isVisible() and not window.restore_action.isEnabled()
    with qtbot.waitSignals([window.jobs.cancelled, window.jobs.finished], order="strict", timeout=TIMEOUT):
        window.cancel_button.click()
    assert results == [] and doc.current is before and doc.undo_stack.count() == 0
    assert not window.cancel_button.isVisible() and window.restore_action.isEnabled()


def test_selection_limits_the_change(qtbot, window, tmp_path):
    open_image(qtbot, window, write_png(tmp_path / "page.png", 64, 80))
    before = window.document.current.pixels
    window.view.set_selection(QRect(30, 20, 16, 12))
    run_tool(qtbot, window, lambda: window.restore_document(engine.RestoreRequest(model="test-restore")))
    after = window.document.current.pixels
    changed = np.any(after != before, axis=2)
    band = np.zeros(changed.shape, bool)
    band[20 - FEATHER:32 + FEATHER, 30 - FEATHER:46 + FEATHER] = True
    assert changed[20:32, 30:46].mean() > 0.9
    assert not np.any(changed & ~band)


def test_detect_then_repair_uses_the_mask(qtbot, window, tmp_path):
    open_image(qtbot, window, write_png(tmp_path / "photo.png"))
    doc = window.document
    run_tool(qtbot, window, lambda: window.detect_damage(engine.MaskRequest(model="test-mask", threshold=0.0)))
    assert doc.mask is not None and doc.mask.shape == (48, 64) and doc.mask.all()
    assert window.show_mask_action.isChecked() and window.clear_mask_action.isEnabled()
    assert window.statusBar().currentMessage() == "Detect Damage: 100.0% of the image marked as damaged"
    run_tool(qtbot, window, lambda: window.repair_damage(engine.RepairRequest(model="test-repair",
                                                                              mask_model="no-such-model")))
    assert doc.undo_stack.count() == 2 and doc.undo_stack.undoText() == "Repair"
    assert not window.show_mask_action.isChecked()           # the filled pixels are seen, not the overlay
    assert doc.mask is not None and window.show_mask_action.isEnabled()
    window.clear_mask_action.trigger()
    assert doc.mask is None
    window.undo_action.trigger()
    assert doc.mask is not None


def test_upscale_changes_the_size_and_undo_restores_it(qtbot, window, tmp_path):
    open_image(qtbot, window, write_png(tmp_path / "small.png", 20, 24))
    run_tool(qtbot, window, lambda: window.upscale_image(request=engine.UpscaleRequest(scale=2, model="test-sr-x2")))
    assert window.document.current.pixels.shape == (40, 48, 3)
    assert (window.view.image_size().width(), window.view.image_size().height()) == (48, 40)
    shown = qimage_to_array(window.view.shown_image())[0]          # an 8-bit result is shown as it is
    np.testing.assert_allclose(shown, window.document.current.float_pixels(), atol=1e-6)
    window.view.set_selection(QRect(4, 4, 10, 8))
    run_tool(qtbot, window, lambda: window.upscale_image(request=engine.UpscaleRequest(scale=4, model="test-sr-x4")))
    assert window.document.current.pixels.shape == (32, 40, 3)
    assert window.view.selection() is None
    window.undo_action.trigger()
    assert window.document.current.pixels.shape == (40, 48, 3)


def test_worker_error_is_shown(qtbot, window, tmp_path, errors):
    open_image(qtbot, window, write_png(tmp_path / "page.png"))
    run_tool(qtbot, window, lambda: window.restore_document(engine.RestoreRequest(model="no-such-model")))
    assert len(errors) == 1
    title, message = errors[0]
    assert title == "Restore failed" and "no-such-model" in message
    assert window.document.undo_stack.count() == 0


def test_export_writes_the_current_image(qtbot, window, tmp_path, errors):
    open_image(qtbot, window, write_png(tmp_path / "page.png", 20, 30, seed=3))
    doc = window.document
    doc.apply(doc.current.with_pixels(1.0 - doc.current.float_pixels()), "Invert")
    target = tmp_path / "out" / "result.png"
    target.parent.mkdir()
    target.write_bytes(b"old")  # the dialog already asked; export replaces the file
    assert window.export_to(str(target))
    written = np.asarray(PILImage.open(target))
    np.testing.assert_array_equal(written, 255 - np.asarray(PILImage.open(tmp_path / "page.png")))
    assert not doc.modified and errors == []
    assert window.export_to(str(tmp_path / "result.jpg"))
    assert PILImage.open(tmp_path / "result.jpg").format == "JPEG"


def test_export_again_writes_to_the_last_export_with_its_quality(qtbot, window, tmp_path, monkeypatch):
    open_image(qtbot, window, write_png(tmp_path / "page.png", 20, 30, seed=3))
    asked = []
    monkeypatch.setattr(window, "export_as", lambda: asked.append(True))
    window.export_action.trigger()                          # never exported: ask where
    assert asked == [True] and window.export_action.text() == "&Export…"
    assert window.export_to(str(tmp_path / "low.jpg"), quality=20)
    assert window.export_action.text() == "&Export to low.jpg"
    doc = window.document
    doc.apply(doc.current.with_pixels(1.0 - doc.current.float_pixels()), "Invert")
    (tmp_path / "low.jpg").unlink()
    window.export_action.trigger()
    assert asked == [True] and not doc.modified
    assert (tmp_path / "low.jpg").stat().st_size < 1500       # quality 20 again, not the default
    window.export_to(str(tmp_path / "high.jpg"), quality=95)
    assert (tmp_path / "high.jpg").stat().st_size > (tmp_path / "low.jpg").stat().st_size


def test_export_error_is_shown(qtbot, window, tmp_path, errors):
    open_image(qtbot, window, write_png(tmp_path / "page.png"))
    assert not window.export_to(str(tmp_path / "result.unknown-format"))
    assert len(errors) == 1 and errors[0][0] == "Export failed" and "result.unknown-format" in errors[0][1]


def test_paste_opens_the_clipboard_image(qtbot, window):
    from PySide6.QtGui import QColor, QImage
    from PySide6.QtWidgets import QApplication

    QApplication.clipboard().clear()
    assert not window.paste_image()
    qimage = QImage(7, 5, QImage.Format.Format_RGB32)
    qimage.fill(QColor(255, 0, 0))
    QApplication.clipboard().setImage(qimage)
    assert window.paste_image()
    pixels = window.document.current.float_pixels()
    assert pixels.shape == (5, 7, 3) and np.allclose(pixels[..., 0], 1) and np.allclose(pixels[..., 1:], 0)
    assert window.windowTitle() == "Untitled[*] — Restora"


def test_copy_puts_the_result_or_the_selection_on_the_clipboard(qtbot, window, tmp_path):
    from PySide6.QtWidgets import QApplication

    open_image(qtbot, window, write_png(tmp_path / "page.png"))
    doc = window.document
    doc.apply(doc.current.with_pixels(1.0 - doc.current.float_pixels()), "Invert")
    window.copy_action.trigger()
    copied = QApplication.clipboard().image()
    assert (copied.width(), copied.height()) == (doc.current.width, doc.current.height)
    np.testing.assert_allclose(qimage_to_array(copied)[0], doc.current.float_pixels(), atol=1 / 255)
    window.view.set_selection(QRect(3, 2, 10, 6))
    window.copy_action.trigger()
    copied = QApplication.clipboard().image()
    assert (copied.width(), copied.height()) == (10, 6)
    np.testing.assert_allclose(qimage_to_array(copied)[0], doc.current.float_pixels()[2:8, 3:13], atol=1 / 255)


def test_shortcuts_dialog_lists_every_keyed_command(qtbot, window, tmp_path):
    from gui.dialogs.shortcuts_dialog import ShortcutsDialog, shortcut_rows

    open_image(qtbot, window, write_png(tmp_path / "page.png"))
    doc = window.document
    doc.apply(doc.current.with_pixels(1.0 - doc.current.float_pixels()), "Invert")
    assert window.undo_action.text() == "&Undo Invert"
    rows = {(command, keys) for _, command, keys in shortcut_rows(window.menuBar())}
    assert {("Undo", "Ctrl+Z"), ("Copy Image", "Ctrl+C"), ("Detect Damage", "Ctrl+Shift+D"),
            ("Redo", "Ctrl+Shift+Z or Ctrl+Y"), ("Keyboard Shortcuts", "F1")} <= rows
    keyed = {a.property("command") for a in window.actions() if a.shortcuts()}
    assert keyed <= {command for command, _ in rows}        # each reaches the list through a menu
    dialog = ShortcutsDialog(window.menuBar(), window)
    qtbot.addWidget(dialog)
    assert dialog.table.rowCount() == len(shortcut_rows(window.menuBar()))


def test_question_names_its_buttons_for_what_they_do(qtbot):
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication, QMessageBox

    from gui.main_window import question

    buttons = QMessageBox.StandardButton
    seen = []

    def answer():
        box = next(w for w in QApplication.topLevelWidgets() if isinstance(w, QMessageBox) and w.isVisible())
        seen.append(box.button(buttons.Save).text())
        box.button(buttons.Save).click()

    QTimer.singleShot(100, answer)
    assert question(None, "Unsaved changes", "Export them first?", buttons.Save | buttons.Discard | buttons.Cancel,
                    buttons.Save, {buttons.Save: "Export…"}) == buttons.Save
    assert seen == ["Export…"]


def test_an_upscale_to_a_very_large_image_asks_first(qtbot, window, tmp_path, unsaved_answers, monkeypatch):
    from PySide6.QtWidgets import QMessageBox

    monkeypatch.setattr("gui.main_window.LARGE_RESULT_PIXELS", 4 * 40 * 30 - 1)
    open_image(qtbot, window, write_png(tmp_path / "page.png", 30, 40))
    request = engine.UpscaleRequest(scale=2, model="test-sr-x2")
    unsaved_answers.append(QMessageBox.StandardButton.Cancel)
    assert not window.upscale_image(request=request) and not window.jobs.busy
    assert "80 × 60 pixels" in unsaved_answers.asked[-1]
    window.view.set_selection(QRect(0, 0, 20, 15))         # a selection small enough: no question
    run_tool(qtbot, window, lambda: window.upscale_image(request=request))
    assert len(unsaved_answers.asked) == 1 and window.document.current.pixels.shape == (30, 40, 3)
