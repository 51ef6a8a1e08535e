"""Editor memory over a session on a big photo: what the undo history holds, and the
process's resident memory, after each step of a typical repair session on a
generated 6000x4000 photo: a held-out picture damaged by the synthetic damage
generator, then enlarged, as a large scan of a damaged print (the real MainWindow,
offscreen, the installed models).

Steps: open; Detect Damage; Repair; five Heal Brush strokes; five brush strokes on
the mask; Rotate 90°. Then the time to undo a Heal stroke (the image rebuilt from
the stroke's rectangle and shown again) and to undo the rotation.

    python benchmarks/gui_memory.py [--size 6000x4000]

Prints a table and writes benchmarks/results/gui_memory.json. Resident memory is
read from /proc (Linux); elsewhere only the history's bytes are reported.
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time

import numpy as np
from common import DATASETS, print_table, write_result

PICTURE = DATASETS / "sr" / "BSD200" / "232038.png"


def resident_mb() -> float | None:
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError):
        return None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--size", default="6000x4000", help="WIDTHxHEIGHT of the generated photo")
    args = ap.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PIL import Image as PILImage
    from PySide6.QtWidgets import QApplication

    import engine
    from engine.training.synth_damage import damage

    app = QApplication.instance() or QApplication([])
    from gui.main_window import MainWindow

    folder = tempfile.mkdtemp(prefix="restora-memory-")
    path = os.path.join(folder, "photo.jpg")
    clean = np.asarray(PILImage.open(PICTURE).convert("RGB"), np.float32) / 255
    damaged, _ = damage(np.random.default_rng(0), clean)
    PILImage.fromarray(engine.to_uint8(damaged)).resize((width, height), PILImage.BICUBIC).save(path, quality=90)
    window = MainWindow()
    window.show()

    def wait(done, seconds: float = 1800) -> None:
        end = time.monotonic() + seconds
        while not done() and time.monotonic() < end:
            app.processEvents()
            time.sleep(0.005)
        app.processEvents()

    rows, steps = [], []

    def record(step: str, seconds: float) -> None:
        doc = window.document
        entry = {"step": step, "seconds": round(seconds, 2), "history_mb": round(doc.history_bytes / 2**20, 1),
                 "resident_mb": None if resident_mb() is None else round(resident_mb(), 0)}
        steps.append(entry)
        rows.append([step, f"{seconds:.1f}", f"{entry['history_mb']:.1f}", entry["resident_mb"] or "-"])

    def run(step: str, start) -> None:
        t = time.perf_counter()
        assert start() is not False, step
        wait(lambda: not window.jobs.busy)
        record(step, time.perf_counter() - t)

    t = time.perf_counter()
    window.open_path(path)
    wait(lambda: window.document is not None)
    record("open", time.perf_counter() - t)
    wait(lambda: False, 2)                               # the worker loads torch meanwhile
    run("Detect Damage", window.detect_damage)
    run("Repair", window.repair_damage)
    rng = np.random.default_rng(0)
    for i in range(5):
        x, y = int(rng.integers(0, width - 400)), int(rng.integers(0, height - 40))
        stroke = np.zeros((height, width), np.uint8)
        stroke[y:y + 40, x:x + 400] = 255
        run(f"Heal stroke {i + 1}", lambda: window.heal(stroke, engine.Box(x, y, x + 400, y + 40)))
    for i in range(5):
        doc = window.document
        box = engine.Box(100 * i, 100, 100 * i + 80, 180)
        t = time.perf_counter()
        doc.paint_mask(box, doc.mask[box.slices].copy(), np.full((80, 80), 255, np.uint8), "Brush Stroke")
        record(f"Brush stroke {i + 1}", time.perf_counter() - t)
    run("Rotate 90°", window.rotate_cw_action.trigger)
    t = time.perf_counter()
    window.document.undo_stack.undo()                    # back before the rotation
    app.processEvents()
    undo_rotate = time.perf_counter() - t
    for _ in range(5):
        window.document.undo_stack.undo()                # the brush strokes
    app.processEvents()
    t = time.perf_counter()
    window.document.undo_stack.undo()                    # the last Heal stroke
    app.processEvents()
    undo_heal = time.perf_counter() - t
    print_table(["step", "s", "history MB", "resident MB"], rows)
    print(f"undo of the rotation: {undo_rotate * 1000:.0f} ms")
    print(f"undo of a Heal stroke (image rebuilt and shown): {undo_heal * 1000:.0f} ms")
    float_state_mb = width * height * 3 * 4 / 2**20
    print(f"one whole {width}x{height} image: {float_state_mb / 4:.0f} MB in 8 bits, {float_state_mb:.0f} MB float32")
    out = write_result("gui_memory", {"size": [width, height], "steps": steps,
                                      "undo_heal_ms": round(undo_heal * 1000, 1),
                                      "undo_rotate_ms": round(undo_rotate * 1000, 1),
                                      "image_mb_uint8": round(float_state_mb / 4, 1),
                                      "image_mb_float32": round(float_state_mb, 1)})
    print(f"wrote {out}")
    window.jobs.shutdown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
