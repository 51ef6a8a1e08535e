"""engine.batch: per-file errors, the report, resuming through the manifest after a
cancel, shards that cover every file exactly once, the preview of the first image."""
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image as PILImage

import engine
from engine import batch
from engine.batch import BatchRequest, Manifest, batch_files, preview_first, read_report, run_batch
from engine.jobs import run_job
from engine.pipeline import Step
from engine.types import CancelToken, RunOptions

RESTORE = (Step("restore", model="test-restore"),)
CPU = RunOptions(device="cpu")


@pytest.fixture
def tiny(tiny_models):
    return tiny_models


def write_png(path: Path, size=(40, 30), seed=0) -> Path:
    """A random RGB PNG of `size` (width, height)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    arr = np.random.default_rng(seed).integers(0, 255, (size[1], size[0], 3), np.uint8)
    PILImage.fromarray(arr).save(path)
    return path


def folder_of(root: Path, names: list[str], size=(40, 30)) -> Path:
    for i, name in enumerate(names):
        write_png(root / name, size, seed=i)
    return root


def leftovers(out: Path) -> list[Path]:
    """Temporary or empty files: what a cancel or a crash must never leave."""
    return [p for p in out.rglob("*") if p.is_file() and (".tmp" in p.name or p.stat().st_size == 0)]


def test_failing_file_is_reported_and_the_batch_goes_on(tiny, tmp_path):
    src = folder_of(tmp_path / "in", ["a.png", "b.png", "sub/c.png"])
    (src / "broken.png").write_bytes(b"not an image")
    out = tmp_path / "out"
    report = run_job(run_batch(BatchRequest(src, out, RESTORE, recursive=True, options=CPU)))
    assert (report.count("done"), report.count("failed"), report.count("skipped")) == (3, 1, 0)
    failed = next(f for f in report.files if f.status == "failed")
    assert failed.source == "broken.png" and "broken.png" in failed.reason
    assert {p.relative_to(out).as_posix() for p in out.rglob("*.png")} == {"a.png", "b.png", "sub/c.png"}

    saved = json.loads((out / "restora-report.json").read_text())
    assert saved["steps"] == ["restore@test-restore"] and not saved["cancelled"]
    assert all(f["seconds"] >= 0 for f in saved["files"]) and saved["seconds"] > 0
    assert read_report(out / "restora-report.json") == report
    text = (out / "restora-report.txt").read_text()
    assert text.startswith("3 done, 0 skipped, 1 failed in ")
    assert "failed: " in text and "done: sub/c.png -> sub/c.png (" in text


def test_running_out_of_memory_on_one_file_is_said_and_the_batch_goes_on(tiny, tmp_path, monkeypatch):
    import engine.ops.restore
    src = folder_of(tmp_path / "in", ["a.png", "b.png"])
    real = engine.ops.restore.restore

    def restore(image, request, cancel=None):
        if image.source.endswith("a.png"):
            raise MemoryError("Unable to allocate 2.00 GiB for an array")
        return (yield from real(image, request, cancel))

    monkeypatch.setattr(engine.ops.restore, "restore", restore)
    report = run_job(run_batch(BatchRequest(src, tmp_path / "out", RESTORE, options=CPU)))
    failed = next(f for f in report.files if f.status == "failed")
    assert failed.source == "a.png" and report.count("done") == 1
    assert "a.png: not enough memory (Unable to allocate 2.00 GiB" in failed.reason


@pytest.mark.parametrize("how", ["token", "close"])
def test_resume_after_cancel_skips_what_the_manifest_records(tiny, tmp_path, monkeypatch, how):
    """Cancel inside the third file (the CLI sets the token; the editor's worker closes the job):
    two outputs, no partial file, a report marked cancelled; the re-run skips the two without
    loading them and does the rest."""
    names = [f"page{i}.png" for i in range(5)]
    src, out = folder_of(tmp_path / "in", names, size=(200, 150)), tmp_path / "out"
    req = BatchRequest(src, out, RESTORE, options=RunOptions(device="cpu", tile=128))   # several tiles a file
    token = CancelToken()
    job = run_batch(req, token)
    for p in job:
        if p.file_index == 2 and p.file_fraction > 0:   # the third file is half-way through its tiles
            if how == "close":
                job.close()
                break
            token.cancel()
    assert sorted(p.name for p in out.glob("*.png")) == names[:2]
    assert leftovers(out) == []
    first = read_report(out / "restora-report.json")
    assert first.cancelled and [f.status for f in first.files] == ["done", "done"]
    assert len((out / ".restora-manifest.jsonl").read_text().splitlines()) == 2

    loaded = []
    real_load = batch.load_image
    monkeypatch.setattr(batch, "load_image", lambda path: loaded.append(Path(path).name) or real_load(path))
    report = run_job(run_batch(req))
    assert [(f.source, f.status) for f in report.files] == [(n, "skipped" if i < 2 else "done")
                                                           for i, n in enumerate(names)]
    assert report.files[0].reason == "done in an earlier run" and report.files[0].output == "page0.png"
    assert loaded == names[2:]
    assert sorted(p.name for p in out.glob("*.png")) == names


def test_outputs_not_in_the_manifest_follow_the_overwrite_rule(tiny, tmp_path):
    src, out = folder_of(tmp_path / "in", ["a.png", "b.png"]), tmp_path / "out"
    req = BatchRequest(src, out, RESTORE, options=CPU)
    run_job(run_batch(req))
    write_png(src / "a.png", seed=7)                      # a changed source no longer matches its record
    (out / ".restora-manifest.jsonl").open("a").write('{"source": "b.png", "torn')   # a crash mid-line
    report = run_job(run_batch(req))
    assert [(f.status, f.reason) for f in report.files] == [
        ("skipped", "output exists (use --overwrite to redo it)"), ("skipped", "done in an earlier run")]
    report = run_job(run_batch(BatchRequest(src, out, RESTORE, overwrite=True, options=CPU)))
    assert [f.status for f in report.files] == ["done", "done"]
    assert Manifest(req).finished_output("a.png", (src / "a.png").stat()) == "a.png"
    other_steps = BatchRequest(src, out, (Step("restore", model="test-restore"), Step("restore", model="test-restore")))
    assert Manifest(other_steps).finished_output("a.png", (src / "a.png").stat()) is None


def test_shards_cover_every_file_exactly_once(tmp_path):
    names = [f"d{i % 4}/img {i}.png" for i in range(60)] + ["top.png", "ünï.png"]
    src = tmp_path / "in"
    for name in names:
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        (src / name).write_bytes(b"")                  # enumeration only looks at names
    for count in (1, 2, 3, 7):
        shares = [batch_files(BatchRequest(src, tmp_path / "out", RESTORE, recursive=True, shard=(i, count)))
                  for i in range(count)]
        flat = [p.relative_to(src).as_posix() for share in shares for p in share]
        assert sorted(flat) == sorted(names), count
        if count > 1:
            assert all(shares), "a shard got no file out of 62"
    again = batch_files(BatchRequest(src, tmp_path / "out", RESTORE, recursive=True, shard=(1, 3)))
    assert again == batch_files(BatchRequest(src, tmp_path / "out", RESTORE, recursive=True, shard=(1, 3)))


def test_a_shard_writes_its_own_report_and_manifest(tiny, tmp_path):
    src, out = folder_of(tmp_path / "in", [f"p{i}.png" for i in range(6)]), tmp_path / "out"
    done = 0
    for i in range(2):
        report = run_job(run_batch(BatchRequest(src, out, RESTORE, shard=(i, 2), options=CPU)))
        done += report.count("done")
        assert (out / f"restora-report.shard-{i}-of-2.json").is_file()
    assert done == 6 and len(list(out.glob(".restora-manifest.shard-*-of-2.jsonl"))) == 2
    report = run_job(run_batch(BatchRequest(src, out, RESTORE, options=CPU)))   # all shards' records are read
    assert report.count("skipped") == 6 and {f.reason for f in report.files} == {"done in an earlier run"}


def test_preview_runs_the_first_readable_image_scaled_down(tiny, tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    (src / "a-broken.png").write_bytes(b"junk")
    write_png(src / "b.png", size=(1200, 600))
    name, before, after = run_job(preview_first(BatchRequest(src, tmp_path / "out", RESTORE, options=CPU)))
    assert name == "b.png" and before.pixels.shape == (256, 512, 3) == after.pixels.shape
    assert not (tmp_path / "out").exists()
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(engine.RestoraError, match="empty: no images in this folder"):
        run_job(preview_first(BatchRequest(empty, tmp_path / "o", RESTORE)))
