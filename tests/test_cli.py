"""The command line contract: verbs, outputs named by stem, exit codes 0/1/2,
messages without tracebacks, inputs untouched."""
import hashlib
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image as PILImage

from engine import models
from engine.cli import main

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def tiny(tiny_models):
    return tiny_models


def _png(path: Path, size=(40, 30), mode="RGB"):
    path.parent.mkdir(parents=True, exist_ok=True)
    arr = np.random.default_rng(0).integers(0, 255, (size[1], size[0], 3 if mode == "RGB" else 1), np.uint8)
    PILImage.fromarray(arr.squeeze()).convert(mode).save(path)
    return path


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_help_documents_every_verb():
    res = subprocess.run([sys.executable, "main.py", "--help"], cwd=ROOT, capture_output=True, text=True)
    assert res.returncode == 0
    for verb in ("restore", "mask", "repair", "upscale", "batch", "finetune", "models", "bench"):
        assert verb in res.stdout
    res = subprocess.run([sys.executable, "main.py", "batch", "--help"], cwd=ROOT, capture_output=True, text=True)
    assert "--shard" in res.stdout and "--recursive" in res.stdout


def test_the_editor_says_which_images_it_did_not_open(monkeypatch, capsys):
    import gui.app
    import main as entry

    opened = []
    monkeypatch.setattr(gui.app, "run", lambda path=None: opened.append(path) or 0)
    assert entry.main(["a.png", "b.png", "c.jpg"]) == 0
    assert opened == ["a.png"]
    assert "not opened: b.png, c.jpg" in capsys.readouterr().err
    assert entry.main(["a.png"]) == 0 and capsys.readouterr().err == ""


def test_bench_runs_the_benchmark_scripts_and_names_those_that_failed(monkeypatch, capsys):
    import engine.cli

    runs = []

    def fake_run(cmd):
        runs.append(cmd)
        return subprocess.CompletedProcess(cmd, 3 if cmd[2:] == ["--model", "damage-unet"] else 0)

    monkeypatch.setattr(engine.cli.subprocess, "run", fake_run)
    assert main(["bench", "finetune", "sr"]) == 1
    script = str(ROOT / "benchmarks" / "finetune.py")
    assert runs == [[sys.executable, script], [sys.executable, script, "--model", "damage-unet"],
                    [sys.executable, script, "--model", "repair-unet"],
                    [sys.executable, str(ROOT / "benchmarks" / "sr.py")]]
    assert all(Path(cmd[1]).is_file() for cmd in runs)
    assert "error: benchmarks/finetune.py --model damage-unet failed" in capsys.readouterr().err
    runs.clear()
    assert main(["bench"]) == 1 and len(runs) == 9 and Path(runs[0][1]).name == "doc_restore.py"
    runs.clear()
    assert main(["bench", "speed"]) == 2 and runs == []
    assert "no benchmark named speed" in capsys.readouterr().err


def test_bad_usage_exits_2(capsys):
    assert main(["upscale", "x.png"]) == 2                      # no -o
    assert main(["upscale", "x.png", "-o", "out", "--scale", "3"]) == 2
    assert main(["batch", "nowhere", "-o", "out", "--steps", "restore"]) == 2
    assert main(["batch", ".", "-o", "out", "--steps", "blur"]) == 2
    for option, value in (("--threshold", "1.5"), ("--threshold", "-0.1"), ("--tile", "-64"), ("--quality", "0")):
        capsys.readouterr()
        assert main(["mask", "x.png", "-o", "out", option, value]) == 2
        assert f"argument {option}: {value} is not" in capsys.readouterr().err


def test_model_not_installed_exits_2(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(models, "SHIPPED_DIR", tmp_path / "none")
    monkeypatch.setenv("RESTORA_DATA_DIR", str(tmp_path / "data"))
    src = _png(tmp_path / "a.png")
    assert main(["upscale", str(src), "-o", str(tmp_path / "out"), "--scale", "4"]) == 2
    err = capsys.readouterr().err
    assert "no trained model for upscale x4" in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_restore_writes_stem_and_keeps_input(tiny, tmp_path, capsys):
    src = _png(tmp_path / "in" / "page one.png", mode="L")
    before = _digest(src)
    out = tmp_path / "out"
    assert main(["restore", str(src), "-o", str(out), "--model", "test-restore", "--device", "cpu"]) == 0
    assert (out / "page one.png").is_file()
    assert _digest(src) == before
    # second run: skipped, not overwritten
    mtime = (out / "page one.png").stat().st_mtime_ns
    assert main(["restore", str(src), "-o", str(out), "--model", "test-restore"]) == 0
    assert (out / "page one.png").stat().st_mtime_ns == mtime
    assert "skipped" in capsys.readouterr().err


def test_some_inputs_fail_exits_1(tiny, tmp_path, capsys):
    _png(tmp_path / "in" / "good.png")
    bad = tmp_path / "in" / "bad.png"
    bad.write_bytes(b"not an image")
    out = tmp_path / "out"
    assert main(["mask", str(tmp_path / "in"), str(tmp_path / "missing.png"), "-o", str(out),
                 "--model", "test-mask"]) == 1
    err = capsys.readouterr().err
    assert "bad.png" in err and "missing.png" in err and "Traceback" not in err
    mask = np.asarray(PILImage.open(out / "good.png"))
    assert mask.shape == (30, 40) and set(np.unique(mask)) <= {0, 255}
    assert not (out / "bad.png").exists()


def test_folders_without_images_are_named(tiny, tmp_path, capsys):
    """A folder that gives no images fails with its name, not a silent exit 0; a hint when the
    images are in its sub-folders."""
    _png(tmp_path / "scans" / "1900" / "a.png")
    (tmp_path / "empty").mkdir()
    out = tmp_path / "out"
    assert main(["mask", str(tmp_path / "scans"), str(tmp_path / "empty"), "-o", str(out), "--model", "test-mask"]) == 1
    err = capsys.readouterr().err
    assert f"{tmp_path / 'scans'}: no images in this folder (its sub-folders are not searched" in err
    assert f"{tmp_path / 'empty'}: no images in this folder\n" in err
    assert main(["batch", str(tmp_path / "scans"), "-o", str(out), "--steps", "restore@test-restore"]) == 1
    assert "only in its sub-folders (include sub-folders)" in capsys.readouterr().err
    assert not out.exists()
    assert main(["batch", str(tmp_path / "scans"), "-o", str(out), "--steps", "restore@test-restore",
                 "--recursive"]) == 0
    assert (out / "1900" / "a.png").is_file()


def test_same_stem_inputs_do_not_overwrite_each_other(tiny, tmp_path, capsys):
    first, second = _png(tmp_path / "in" / "a.png"), _png(tmp_path / "in" / "a.jpg", size=(20, 10))
    out = tmp_path / "out"
    assert main(["mask", str(first), str(second), "-o", str(out), "--model", "test-mask", "--overwrite"]) == 1
    assert "a.jpg: its output a.png would overwrite the output of" in capsys.readouterr().err
    assert PILImage.open(out / "a.png").size == (40, 30)           # the first input's mask is kept


def test_an_input_is_never_replaced_by_an_output_even_with_overwrite(tiny, tmp_path, capsys):
    """Writing into the inputs' own folder: an output named like an input (its own, or another
    input's, as a.jpg's mask a.png) is refused, --overwrite or not; the rest are written."""
    folder = tmp_path / "in"
    own, other, jpg = _png(folder / "own.png"), _png(folder / "a.png"), _png(folder / "a.jpg")
    _png(folder / "b.gif")                                          # its mask is b.png
    digests = {p: _digest(p) for p in folder.iterdir()}
    assert main(["mask", str(own), str(jpg), str(other), "-o", str(folder), "--model", "test-mask",
                 "--overwrite"]) == 1
    err = capsys.readouterr().err
    assert f"{own}: its output {own} would replace the input itself; write to another folder" in err
    assert f"{jpg}: its output {other} would replace another input" in err
    assert f"{other}: its output {other} would replace the input itself" in err
    assert {p: _digest(p) for p in digests} == digests
    assert main(["mask", str(folder / "b.gif"), "-o", str(folder), "--model", "test-mask"]) == 0
    assert (folder / "b.png").is_file()                            # an output beside its input is fine
    assert main(["batch", str(folder), "-o", str(folder / "."), "--steps", "restore@test-restore", "--overwrite"]) == 1
    assert "the output folder is the input folder" in capsys.readouterr().err
    assert {p: _digest(p) for p in digests} == digests


def test_load_warnings_name_the_file(tiny, tmp_path, capsys):
    gif = tmp_path / "in" / "anim.gif"
    gif.parent.mkdir()
    frames = [PILImage.new("RGB", (20, 10), c) for c in ("red", "blue")]
    frames[0].save(gif, save_all=True, append_images=frames[1:])
    assert main(["restore", str(gif), "-o", str(tmp_path / "out"), "--model", "test-restore"]) == 0
    assert f"warning: {gif}: it has 2 frames; only the first is used" in capsys.readouterr().err
    assert main(["batch", str(gif.parent), "-o", str(tmp_path / "out2"), "--steps", "restore@test-restore"]) == 0
    assert f"warning: {gif}: it has 2 frames" in capsys.readouterr().err
    assert "warning: anim.gif: it has 2 frames" in (tmp_path / "out2" / "restora-report.txt").read_text()


def test_mask_soft_is_8bit_probability(tiny, tmp_path):
    src = _png(tmp_path / "a.jpg")
    assert main(["mask", str(src), "-o", str(tmp_path / "o"), "--model", "test-mask", "--soft"]) == 0
    m = np.asarray(PILImage.open(tmp_path / "o" / "a.png"))
    assert m.dtype == np.uint8 and 0 < m.min() and m.max() < 255      # a probability, not 0/255


def test_repair_with_user_mask(tiny, tmp_path):
    src = _png(tmp_path / "a.png")
    m = np.zeros((30, 40), np.uint8)
    m[5:10, 5:20] = 255
    PILImage.fromarray(m).save(tmp_path / "m.png")
    out = tmp_path / "o"
    assert main(["repair", str(src), "--mask", str(tmp_path / "m.png"), "-o", str(out), "--model", "test-repair"]) == 0
    a, b = np.asarray(PILImage.open(src)), np.asarray(PILImage.open(out / "a.png"))
    assert np.array_equal(a[m == 0], b[m == 0])


def test_repair_with_a_folder_of_masks(tiny, tmp_path, capsys):
    srcs = [_png(tmp_path / "in" / name) for name in ("a.png", "b.jpg", "c.png")]
    masks = tmp_path / "masks"
    masks.mkdir()
    m = np.zeros((30, 40), np.uint8)
    m[5:10, 5:20] = 255
    PILImage.fromarray(m).save(masks / "a_mask.png")                 # as the editor exports it
    PILImage.fromarray(m[:20]).save(masks / "c.png")                 # the wrong size
    out = tmp_path / "o"
    assert main(["repair", *map(str, srcs), "--mask", str(masks), "-o", str(out), "--model", "test-repair"]) == 1
    err = capsys.readouterr().err
    assert "b.jpg: no mask for it in" in err and "c.png: the mask is 40x20 pixels but" in err
    a, b = np.asarray(PILImage.open(srcs[0])), np.asarray(PILImage.open(out / "a.png"))
    assert np.array_equal(a[m == 0], b[m == 0]) and not np.array_equal(a[m > 0], b[m > 0])
    assert sorted(p.name for p in out.iterdir()) == ["a.png"]
    assert main(["repair", *map(str, srcs), "--mask", str(masks / "a_mask.png"), "-o", str(out)]) == 2


def test_upscale_named_model_and_format(tiny, tmp_path):
    src = _png(tmp_path / "a.png", size=(11, 7))
    out = tmp_path / "o"
    assert main(["upscale", str(src), "-o", str(out), "--scale", "2", "--model", "test-sr-x2",
                 "--format", "jpg", "--quality", "80"]) == 0
    with PILImage.open(out / "a.jpg") as im:
        assert im.size == (22, 14) and im.format == "JPEG"


def test_a_result_too_large_for_the_memory_is_refused_before_it_starts(tiny, tmp_path, capsys, monkeypatch):
    import engine.device
    small = _png(tmp_path / "small.png", size=(11, 7))
    big = _png(tmp_path / "big.png", size=(60, 50))
    free = 22 * 14 * 3 * 4          # bytes: room for the small picture's x2 result (float32 or less), not the big one's
    monkeypatch.setattr(engine.device.psutil, "virtual_memory", lambda: type("Memory", (), {"available": free}))
    out = tmp_path / "o"
    assert main(["upscale", str(small), str(big), "-o", str(out), "--scale", "2", "--model", "test-sr-x2"]) == 1
    err = capsys.readouterr().err
    assert "big.png: the 120x100 result needs" in err and "GB of memory" in err and "Traceback" not in err
    assert (out / "small.png").exists() and not (out / "big.png").exists()


@pytest.mark.parametrize("error, said", [(MemoryError("Unable to allocate 2.00 GiB"), "not enough memory (Unable"),
                                         (ValueError("a bug"), "unexpected ValueError: a bug")])
def test_one_file_failing_part_way_is_named_and_the_rest_are_done(tiny, tmp_path, capsys, monkeypatch, error, said):
    import engine.ops.restore
    first, second = _png(tmp_path / "a.png"), _png(tmp_path / "b.png")
    real = engine.ops.restore.restore

    def restore(image, request, cancel=None):
        if image.source.endswith("a.png"):
            raise error
        return (yield from real(image, request, cancel))

    monkeypatch.setattr(engine.ops.restore, "restore", restore)
    out = tmp_path / "o"
    assert main(["restore", str(first), str(second), "-o", str(out), "--model", "test-restore"]) == 1
    err = capsys.readouterr().err
    assert f"{first}: {said}" in err and "Traceback" not in err
    assert (out / "b.png").exists() and not (out / "a.png").exists()


def test_models_delete_removes_only_ones_own(own_tiny_models, capsys):
    assert main(["models", "--delete", "test-sr-x2"]) == 0
    assert not (own_tiny_models / "models" / "test-sr-x2.json").exists()
    assert main(["models", "--delete", "document-unet"]) == 2
    assert "cannot be deleted" in capsys.readouterr().err
    assert (ROOT / "resources" / "models" / "document-unet.json").is_file()


def test_models_lists_registry(tiny, capsys):
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "test-sr-x4" in out and "upscale x4" in out


def test_batch_over_hostile_catalogue(tiny, hostile_dir, tmp_path, capsys):
    """Issue 2 acceptance: exit 1, each unreadable file named without a traceback, an output for every
    readable one, no empty or partial files, inputs byte-identical."""
    root = hostile_dir.root
    digests = {p: _digest(p) for p in root.rglob("*") if p.is_file()}
    out = tmp_path / "out"
    code = main(["batch", str(root), "-o", str(out), "--steps", "restore@test-restore", "--recursive",
                 "--device", "cpu"])
    err = capsys.readouterr().err
    assert code == 1
    assert "Traceback" not in err
    for rel, expected in hostile_dir.cases.items():
        produced = [p for p in (out / rel.parent).glob(f"{rel.stem}.*")] if (out / rel.parent).is_dir() else []
        if expected == "error":
            assert rel.name in err or os.fsdecode(rel.name) in err, rel
            assert not produced, rel
        else:
            assert produced, f"no output for {rel}"
    for p in out.rglob("*"):
        if p.is_file():
            assert p.stat().st_size > 0 and not p.name.endswith(".tmp"), p
    assert {p: _digest(p) for p in digests} == digests
    assert (out / "restora-report.json").is_file()


def test_full_size_looks_at_a_large_picture_unreduced(tiny, tmp_path, monkeypatch):
    from engine.ops import segment

    seen = []
    real = segment.run_tiled

    def tiled(net, x, **kw):
        seen.append(x.shape[:2])
        return (yield from real(net, x, **kw))

    monkeypatch.setattr(segment, "run_tiled", tiled)
    src = _png(tmp_path / "scan.png", size=(750, 500))
    out = tmp_path / "o"
    assert main(["mask", str(src), "-o", str(out), "--model", "test-mask"]) == 0
    assert main(["mask", str(src), "-o", str(out), "--model", "test-mask", "--full-size", "--overwrite"]) == 0
    assert main(["repair", str(src), "-o", str(tmp_path / "r"), "--model", "test-repair", "--mask-model",
                 "test-mask", "--full-size"]) == 0
    views = segment.VIEWS                   # each picture is looked at in this many turns and mirror images
    assert seen[::views] == [(320, 480), (500, 750), (500, 750)] and len(seen) == 3 * views
    assert PILImage.open(out / "scan.png").size == (750, 500)
