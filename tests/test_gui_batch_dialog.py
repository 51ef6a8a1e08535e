"""The Batch Export dialog end to end: real widgets, the real worker thread, tiny models."""
from pathlib import Path

import numpy as np
import pytest
from gui_helpers import open_image, with_warnings, write_png
from PIL import Image as PILImage
from PySide6.QtCore import QSettings, Qt

from gui.dialogs.batch_dialog import BatchExportDialog

TIMEOUT = 60000


@pytest.fixture
def dialog(qtbot, tmp_path, monkeypatch, tiny_models):
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    settings.setValue("settings/restore_model", "test-restore")
    settings.setValue("settings/device", "cpu")
    settings.setValue("settings/tile", 128)
    d = with_warnings(qtbot, monkeypatch, BatchExportDialog(settings), "gui.dialogs.batch_dialog")
    yield d
    d.runner.shutdown()


def make_folder(root: Path, count: int, size=(200, 150)) -> Path:
    root.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(count):
        PILImage.fromarray(rng.integers(0, 255, (size[1], size[0], 3), np.uint8)).save(root / f"page{i}.png")
    return root


def fill(dialog, src: Path, out: Path) -> None:
    dialog.input_edit.setText(str(src))
    dialog.output_edit.setText(str(out))
    dialog.restore_box.setChecked(True)
    for box in (dialog.repair_box, dialog.upscale2_box, dialog.upscale4_box):
        box.setChecked(False)


def test_batch_with_a_failing_file_shows_the_report(qtbot, dialog, tmp_path, monkeypatch):
    src, out = make_folder(tmp_path / "in", 3, size=(40, 30)), tmp_path / "out"
    (src / "zz-broken.png").write_bytes(b"not an image")
    fill(dialog, src, out)
    dialog.format_combo.setCurrentIndex(dialog.format_combo.findData("jpg"))
    dialog.quality_spin.setValue(70)
    shown = []     # what the progress labels said after each report (connected after the dialog's own slot)
    dialog.relay.reported.connect(lambda p: shown.append((dialog.overall_label.text(), dialog.file_label.text(),
                                                          dialog.file_bar.isHidden())))
    assert dialog.file_bar.isHidden()
    with qtbot.waitSignal(dialog.batch_finished, timeout=TIMEOUT) as finished:
        assert dialog.start()
    report = finished.args[0]
    assert (report.count("done"), report.count("failed")) == (3, 1)
    assert ("File 1 of 4", "page0.png", False) in [(overall.strip()[:11], file, hidden)
                                                   for overall, file, hidden in shown]
    assert sorted(p.name for p in out.glob("*.jpg")) == ["page0.jpg", "page1.jpg", "page2.jpg"]
    text = dialog.report_view.toPlainText()
    assert "3 done, 0 skipped, 1 failed" in text and "zz-broken.png" in text
    assert dialog.overall_label.text().startswith("Finished: 3 done")
    qtbot.waitUntil(lambda: dialog.close_button.isEnabled(), timeout=TIMEOUT)
    assert dialog.open_folder_button.isEnabled() and not dialog.cancel_button.isEnabled()
    assert dialog.file_bar.isHidden()
    opened = []
    monkeypatch.setattr("gui.dialogs.batch_dialog.QDesktopServices.openUrl", lambda url: opened.append(url) or True)
    dialog.open_folder_button.click()
    assert [Path(u.toLocalFile()) for u in opened] == [out.resolve()]


def test_cancel_then_resume(qtbot, dialog, tmp_path):
    src, out = make_folder(tmp_path / "in", 4), tmp_path / "out"
    fill(dialog, src, out)
    seen = []

    def cancel_in_third_file(p) -> None:   # runs on the worker thread, before the job goes on
        seen.append((p.file_index, p.file_fraction))
        if p.file_index == 2 and p.file_fraction > 0:
            dialog.runner.cancel()

    dialog.relay.reported.connect(cancel_in_third_file, Qt.ConnectionType.DirectConnection)
    with qtbot.waitSignal(dialog.batch_finished, timeout=TIMEOUT) as finished:
        assert dialog.start()
    report = finished.args[0]
    assert report.cancelled and [f.status for f in report.files] == ["done", "done"]
    assert dialog.overall_label.text().startswith("Cancelled: 2 done")
    assert sorted(p.name for p in out.glob("*.png")) == ["page0.png", "page1.png"]
    assert not [p for p in out.iterdir() if ".tmp" in p.name]
    assert max(seen)[0] == 2 and any(0 < fraction < 1 for _, fraction in seen)    # per-file progress
    dialog.relay.reported.disconnect(cancel_in_third_file)

    qtbot.waitUntil(lambda: dialog.start_button.isEnabled(), timeout=TIMEOUT)
    with qtbot.waitSignal(dialog.batch_finished, timeout=TIMEOUT) as finished:
        assert dialog.start()
    report = finished.args[0]
    assert [(f.status, f.reason) for f in report.files[:2]] == [("skipped", "done in an earlier run")] * 2
    assert [f.status for f in report.files[2:]] == ["done", "done"]
    assert dialog.overall_bar.value() == dialog.overall_bar.maximum()


def test_preview_shows_the_first_image_before_and_after(qtbot, dialog, tmp_path):
    src = make_folder(tmp_path / "in", 2, size=(60, 40))
    fill(dialog, src, tmp_path / "out")
    with qtbot.waitSignal(dialog.runner.finished, timeout=TIMEOUT):
        assert dialog.start_preview()
    assert dialog.preview_caption.text() == "page0.png: before and after"
    assert not dialog.before_label.pixmap().isNull() and not dialog.after_label.pixmap().isNull()
    assert not (tmp_path / "out").exists()


def test_an_incomplete_form_is_refused(dialog, tmp_path):
    dialog.input_edit.setText(str(tmp_path / "missing"))
    assert not dialog.start()
    fill(dialog, make_folder(tmp_path / "in", 1), tmp_path / "out")
    dialog.restore_box.setChecked(False)
    assert not dialog.start()
    dialog.restore_box.setChecked(True)
    dialog.output_edit.setText(str(tmp_path / "in"))
    assert not dialog.start()
    assert dialog.warnings == ["Choose an existing input folder.", "Choose at least one step.",
                               "Choose an output folder other than the input folder: outputs named like their "
                               "inputs would replace them."]
    dialog.restore_box.setChecked(False)
    dialog.upscale2_box.setChecked(True)
    dialog.upscale4_box.setChecked(True)
    assert not dialog.upscale2_box.isChecked()
    assert [str(s) for s in dialog.steps()] == ["upscale:4:faithful"]


def test_a_folder_with_images_only_in_sub_folders_says_so(qtbot, dialog, tmp_path):
    src = tmp_path / "in"
    make_folder(src / "1920s", 1, size=(40, 30))
    fill(dialog, src, tmp_path / "out")
    with qtbot.waitSignal(dialog.runner.finished, timeout=TIMEOUT):
        assert dialog.start()
    assert dialog.overall_label.text() == "The batch stopped"
    assert "only in its sub-folders (include sub-folders)" in dialog.report_view.toPlainText()
    dialog.recursive_box.setChecked(True)
    with qtbot.waitSignal(dialog.batch_finished, timeout=TIMEOUT) as finished:
        assert dialog.start()
    assert finished.args[0].count("done") == 1 and (tmp_path / "out" / "1920s" / "page0.png").is_file()


def test_from_the_editor_it_starts_in_the_open_images_folder_then_the_last_batchs(qtbot, window, tmp_path,
                                                                                   monkeypatch):
    (tmp_path / "photos").mkdir()
    photo = write_png(tmp_path / "photos" / "photo.png", 30, 40)
    open_image(qtbot, window, photo)
    seen = []
    monkeypatch.setattr(BatchExportDialog, "exec", lambda d: (seen.append(d.input_edit.text()), d.reject()))
    window.show_batch_export()
    window.settings.setValue("batch/input", str(tmp_path / "scans"))
    window.show_batch_export()
    window.show_batch_export(str(tmp_path / "given"))
    assert seen == [str(photo.parent), str(tmp_path / "scans"), str(tmp_path / "given")]
