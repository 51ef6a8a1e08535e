"""The Fine-tune dialog end to end: real widgets, the real worker thread, tiny models
and a few steps on small generated pages."""
from pathlib import Path

import numpy as np
import pytest
from gui_helpers import with_warnings
from PIL import Image as PILImage
from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import QMessageBox

import engine
from gui.dialogs.finetune_dialog import FinetuneDialog

TIMEOUT = 120000


@pytest.fixture
def dialog(qtbot, tmp_path, monkeypatch, own_tiny_models):
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    d = with_warnings(qtbot, monkeypatch, FinetuneDialog(settings), "gui.dialogs.finetune_dialog")
    yield d
    d.runner.shutdown()


def pages(folder: Path, count: int, dim: float = 1.0) -> Path:
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(count):
        PILImage.fromarray((rng.integers(0, 256, (48, 56)) * dim).astype(np.uint8)).save(folder / f"p{i}.png")
    return folder


def fill(dialog, tmp_path: Path, name: str, steps: int) -> None:
    dialog.model_combo.setCurrentIndex(dialog.model_combo.findData("test-restore"))
    dialog.paired_radio.setChecked(True)
    dialog.degraded_edit.setText(str(pages(tmp_path / "degraded", 5, dim=0.6)))
    dialog.clean_edit.setText(str(pages(tmp_path / "clean", 5)))
    dialog.degraded_edit.editingFinished.emit()
    dialog.name_edit.setText(name)
    dialog.steps_spin.setValue(steps)
    dialog.patch_spin.setValue(32)
    dialog.batch_spin.setValue(2)
    dialog.device_combo.setCurrentIndex(dialog.device_combo.findData("cpu"))


def test_finetune_trains_plots_saves_and_offers_the_model(qtbot, dialog, tmp_path):
    fill(dialog, tmp_path, "my-pages", steps=4)
    assert dialog.pairs_label.text() == "5 pairs: 4 to train on, 1 held out to validate"
    with qtbot.waitSignal(dialog.finetune_finished, timeout=TIMEOUT) as finished:
        assert dialog.start()
    result = finished.args[0]
    assert result.name == "my-pages" and result.steps_done == 4
    assert "my-pages" in [c.name for c in engine.list_models()]
    qtbot.waitUntil(lambda: dialog.use_button.isEnabled(), timeout=TIMEOUT)
    assert [step for step, _ in dialog.plot.losses] == [1, 2, 3, 4]
    assert [step for step, _ in dialog.plot.values] == [0, 1, 2, 3, 4] and dialog.plot.metric_label == "RMSE"
    for label in (dialog.input_label, dialog.before_label, dialog.after_label):
        assert not label.pixmap().isNull()
    assert dialog.status_label.text().startswith("Saved as 'my-pages': validation RMSE ")
    dialog.plot.grab()                                  # paints the curves
    with qtbot.waitSignal(dialog.model_chosen, timeout=TIMEOUT) as chosen:
        dialog.use_button.click()
    assert chosen.args == ["my-pages"] and not dialog.isVisible()


def test_cancel_keeps_the_best_model_and_lists_it(qtbot, dialog, tmp_path, monkeypatch):
    from engine.training import finetune as finetune_module

    values = iter([1.0, 0.5] + [0.9] * 100)     # the first validation after the start is the best
    monkeypatch.setattr(finetune_module, "_validate", lambda *args: next(values))
    fill(dialog, tmp_path, "stopped", steps=40)

    def cancel_at_step_6(status) -> None:          # on the worker thread, before training goes on
        if status.done == 6:
            dialog.runner.cancel()

    dialog.relay.reported.connect(cancel_at_step_6, Qt.ConnectionType.DirectConnection)
    with qtbot.waitSignal(dialog.runner.finished, timeout=TIMEOUT):
        assert dialog.start()
    card = engine.get_card("stopped")
    assert card.source == "user" and card.training["cancelled"] and card.training["best_step"] == 4
    assert dialog.status_label.text() == ("Cancelled at step 6; the best weights so far (step 4) "
                                          "are saved as 'stopped'.")
    assert dialog.use_button.isEnabled() and dialog.close_button.isEnabled()
    assert (tmp_path / "data" / "finetune" / "stopped" / "best.pt").is_file()


def test_names_of_shipped_and_existing_models(qtbot, dialog, tmp_path, monkeypatch):
    fill(dialog, tmp_path, "document-unet", steps=2)
    assert not dialog.start() and "shipped model" in dialog.warnings[-1]
    dialog.name_edit.setText("test-mask")            # one of the person's own models
    asked = []
    monkeypatch.setattr("gui.dialogs.finetune_dialog.QMessageBox.question",
                        lambda *args: asked.append(args[2]) or QMessageBox.StandardButton.No)
    dialog.start_button.click()
    assert len(asked) == 1 and "test-mask" in asked[0] and not dialog.runner.busy
    with qtbot.waitSignal(dialog.finetune_finished, timeout=TIMEOUT):
        assert dialog.start(replace=True)
    assert engine.get_card("test-mask").task == "restore"


def test_the_folders_are_named_as_the_models_task_reads_them(dialog):
    form = dialog._data_form
    dialog.paired_radio.setChecked(True)
    dialog.model_combo.setCurrentIndex(dialog.model_combo.findData("test-mask"))
    assert form.labelForField(dialog.degraded_row).text() == "Damaged"
    assert "masks" in dialog.paired_radio.text() and dialog.paired_radio.isChecked()
    assert form.labelForField(dialog.clean_edit.parentWidget()).text() == "Masks"
    dialog.clean_only_radio.setChecked(True)                 # clean pictures, not masks
    assert form.labelForField(dialog.clean_edit.parentWidget()).text() == "Clean"
    dialog.paired_radio.setChecked(True)
    dialog.model_combo.setCurrentIndex(dialog.model_combo.findData("test-repair"))
    assert not dialog.paired_radio.isEnabled() and dialog.clean_only_radio.isChecked()
    assert not dialog.degraded_row.isEnabled()
    dialog.model_combo.setCurrentIndex(dialog.model_combo.findData("test-restore"))
    assert dialog.paired_radio.isEnabled() and form.labelForField(dialog.degraded_row).text() == "Degraded"


def test_the_learning_rate_is_the_tasks_own(qtbot, dialog, tmp_path):
    """Each task starts at its default learning rate (a detector's is lower: it forgets less);
    a rate the person chose is remembered for that task only."""
    dialog.model_combo.setCurrentIndex(dialog.model_combo.findData("test-mask"))
    assert dialog.lr_spin.value() == pytest.approx(engine.FINETUNE_DEFAULT_LR["mask"]) == pytest.approx(1e-4)
    fill(dialog, tmp_path, "my-pages", steps=1)             # a restore model
    assert dialog.lr_spin.value() == pytest.approx(engine.FINETUNE_DEFAULT_LR["restore"])
    dialog.lr_spin.setValue(5e-4)
    with qtbot.waitSignal(dialog.finetune_finished, timeout=TIMEOUT) as finished:
        assert dialog.start()
    assert engine.get_card(finished.args[0].name).training["lr"] == pytest.approx(5e-4)
    dialog.model_combo.setCurrentIndex(dialog.model_combo.findData("test-mask"))
    assert dialog.lr_spin.value() == pytest.approx(1e-4)
    dialog.model_combo.setCurrentIndex(dialog.model_combo.findData("test-restore"))
    assert dialog.lr_spin.value() == pytest.approx(5e-4)
