"""Folder in, folder out: find the images (os.scandir, so odd names are kept),
run the pipeline on each, write outputs keeping the sub-folder tree, record
per-file failures and go on, and write a JSON + text report beside the outputs.
`shard=(i, n)` takes a stable 1/n share of the files for cluster job arrays.

Resuming: every finished file is appended to a manifest in the output folder
(`.restora-manifest.jsonl`, one JSON line per file: source, its size and mtime,
steps, format, output, seconds). A re-run skips a file whose manifest record
still matches its source and settings without even loading it. An output that
exists for any other reason (not in the manifest, an older source, other
settings) is skipped too, as the command line promises, unless `overwrite`.
Outputs are saved atomically, so a cancel or a crash never leaves a partial file."""
from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Generator

import numpy as np
from PIL import Image as PILImage

from .errors import Cancelled, OutOfMemoryError, RestoraError
from .imageio import SAVE_FORMATS, load_image, save_image
from .jobs import sub_progress
from .pipeline import Step, run_steps
from .types import CancelToken, Image, Progress, RunOptions

IMAGE_SUFFIXES = frozenset(s.lower() for s in PILImage.registered_extensions())
MANIFEST = ".restora-manifest"
REPORT = "restora-report"
PREVIEW_SIDE = 512          # the preview runs on the first image scaled to fit this


@dataclass(frozen=True)
class BatchRequest:
    input_dir: Path
    output_dir: Path
    steps: tuple[Step, ...]
    recursive: bool = False
    format: str | None = None        # None: keep the input's format when it can be written, else PNG
    quality: int = 92
    overwrite: bool = False
    shard: tuple[int, int] = (0, 1)  # (index, count), index in 0..count-1
    options: RunOptions = RunOptions()


@dataclass(frozen=True)
class BatchProgress(Progress):
    """Overall progress (`done` of `total`, stage = the file's relative path) plus the
    current file's place in the batch and how far its own pipeline has come."""

    file_index: int = 0
    file_count: int = 0
    file_fraction: float = 0.0


@dataclass
class FileOutcome:
    source: str                      # path relative to the input folder
    status: str                      # "done", "skipped" or "failed"
    output: str | None = None        # path relative to the output folder
    reason: str = ""
    seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)   # what loading it changed or dropped


@dataclass
class BatchReport:
    input_dir: str
    output_dir: str
    steps: list[str]
    files: list[FileOutcome] = field(default_factory=list)
    seconds: float = 0.0
    cancelled: bool = False

    def count(self, status: str) -> int:
        return sum(f.status == status for f in self.files)

    def summary(self) -> str:
        """The readable report: a totals line, then failures, skips and finished files with their times."""
        lines = [f"{self.count('done')} done, {self.count('skipped')} skipped, {self.count('failed')} failed "
                 f"in {self.seconds:.1f} s" + (" (cancelled)" if self.cancelled else "")]
        lines += [f"failed: {f.reason}" for f in self.files if f.status == "failed"]
        lines += [f"skipped: {f.source}: {f.reason}" for f in self.files if f.status == "skipped"]
        lines += [f"done: {f.source} -> {f.output} ({f.seconds:.2f} s)" for f in self.files if f.status == "done"]
        lines += [f"warning: {f.source}: {w}" for f in self.files for w in f.warnings]
        return "\n".join(lines)


def find_images(root: Path, recursive: bool, exclude: Path | None = None) -> list[Path]:
    """Image files under `root` by extension (content is checked on load), sorted,
    skipping hidden entries and `exclude` (the output folder when it lies inside)."""
    found: list[Path] = []
    stack = [root]
    while stack:
        folder = stack.pop()
        with os.scandir(folder) as it:
            for entry in it:
                if entry.name.startswith("."):
                    continue
                path = Path(entry.path)
                if entry.is_dir(follow_symlinks=False):
                    if recursive and (exclude is None or path.resolve() != exclude):
                        stack.append(path)
                elif entry.is_file() and path.suffix.lower() in IMAGE_SUFFIXES:
                    found.append(path)
    return sorted(found)


def in_shard(relative: str, shard: tuple[int, int]) -> bool:
    """Stable assignment of a file to one of `shard[1]` shards by a hash of its relative path."""
    index, count = shard
    digest = hashlib.sha1(os.fsencode(relative)).digest()
    return int.from_bytes(digest[:8], "big") % count == index


def no_images_reason(folder: Path, recursive: bool) -> str:
    """The message for a folder that gave no images, saying whether its sub-folders hold some."""
    if not recursive and find_images(folder, recursive=True):
        return f"{folder}: no images in this folder itself, only in its sub-folders (include sub-folders)"
    return f"{folder}: no images in this folder"


def batch_files(req: BatchRequest) -> list[Path]:
    """The input files this request (and its shard) covers, sorted; RestoraError when the
    folder holds no images at all (a shard may cover none of them) or is the output folder."""
    if req.output_dir.resolve() == req.input_dir.resolve():
        raise RestoraError(f"{req.output_dir}: the output folder is the input folder, where outputs named like "
                           "their inputs would replace them; choose another output folder")
    found = find_images(req.input_dir, req.recursive, req.output_dir.resolve())
    if not found:
        raise RestoraError(no_images_reason(req.input_dir, req.recursive))
    return [p for p in found if in_shard(p.relative_to(req.input_dir).as_posix(), req.shard)]


def output_format(source_format: str | None, requested: str | None) -> str:
    """The output extension: the requested one, else the input's when writable, else png."""
    if requested:
        return requested
    for ext, fmt in SAVE_FORMATS.items():
        if fmt == source_format:
            return ext
    return "png"


def _shard_suffix(shard: tuple[int, int]) -> str:
    return f".shard-{shard[0]}-of-{shard[1]}" if shard[1] > 1 else ""


class OutputClaims:
    """The outputs of one run, claimed one by one: an output may not be one of the run's
    inputs (an input is never modified, --overwrite or not) nor one another input of the
    run already wrote (two inputs with the same stem)."""

    def __init__(self, inputs: list[Path]):
        self._inputs = {p.resolve() for p in inputs}
        self._claimed: dict[Path, str] = {}

    def claim(self, target: Path, source: Path, label: str | None = None) -> None:
        """Claim `target` for `source` (named `label`, else its path, in a later refusal) or raise
        RestoraError."""
        if target.resolve() in self._inputs:
            which = "the input itself" if target.resolve() == source.resolve() else "another input"
            raise RestoraError(f"{source}: its output {target} would replace {which}; write to another folder")
        if target in self._claimed:
            raise RestoraError(f"{source}: its output {target.name} would overwrite the output of "
                               f"{self._claimed[target]} (same name stem)")
        self._claimed[target] = label or str(source)

    def mark(self, target: Path, label: str) -> None:
        """Record an output written in an earlier run, without checks."""
        self._claimed[target] = label


def report_path(req: BatchRequest, suffix: str = ".json") -> Path:
    """Where the report of `req` goes: OUT/restora-report[.shard-I-of-N]{.json,.txt}."""
    return req.output_dir / (REPORT + _shard_suffix(req.shard) + suffix)


class Manifest:
    """The files earlier runs finished, read from every OUT/.restora-manifest*.jsonl; this
    run appends to its own shard's file (parallel shards never write to the same file).
    Each record is one line written by a single append, so a crash can tear at most
    the last line, which reading ignores (the next append starts on a fresh line)."""

    def __init__(self, req: BatchRequest):
        self.req = req
        self.path = req.output_dir / (MANIFEST + _shard_suffix(req.shard) + ".jsonl")
        self.steps = ",".join(str(s) for s in req.steps)
        self.records: dict[str, dict] = {}
        self._torn = False       # our file ends in a line torn by a crash: start on a fresh line
        if req.output_dir.is_dir():
            for path in sorted(req.output_dir.glob(MANIFEST + "*.jsonl")):
                text = path.read_text(encoding="ascii", errors="replace")
                if path == self.path:
                    self._torn = bool(text) and not text.endswith("\n")
                for line in text.splitlines():
                    try:
                        record = json.loads(line)
                        self.records[record["source"]] = record
                    except (ValueError, KeyError, TypeError):
                        continue

    def _key(self, source: os.stat_result) -> dict:
        return {"size": source.st_size, "mtime_ns": source.st_mtime_ns, "steps": self.steps,
                "format": self.req.format, "quality": self.req.quality}

    def finished_output(self, relative: str, source: os.stat_result) -> str | None:
        """The output recorded for `relative` if that record matches the source and settings
        and the output is still there; else None."""
        record = self.records.get(relative)
        if record is None or any(record.get(k) != v for k, v in self._key(source).items()):
            return None
        return record["output"] if (self.req.output_dir / record["output"]).is_file() else None

    def add(self, relative: str, source: os.stat_result, output: str, seconds: float) -> None:
        """Record that `relative` was written as `output` (both relative paths) in `seconds`."""
        record = {"source": relative, **self._key(source), "output": output, "seconds": seconds}
        self.records[relative] = record
        line = ("\n" if self._torn else "") + json.dumps(record) + "\n"   # \u-escapes keep undecodable names exact
        self._torn = False
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            os.write(fd, line.encode("ascii"))
        finally:
            os.close(fd)


def run_batch(req: BatchRequest, cancel: CancelToken | None = None) -> Generator[Progress, None, BatchReport]:
    """Process the folder; yields BatchProgress (files x tiles); returns the report, which is
    also written to the output folder, on cancel too (marked cancelled)."""
    t0 = time.time()
    files = batch_files(req)
    report = BatchReport(str(req.input_dir), str(req.output_dir), [str(s) for s in req.steps])
    req.output_dir.mkdir(parents=True, exist_ok=True)
    manifest = Manifest(req)
    claims = OutputClaims(files)
    try:
        for i, path in enumerate(files):
            rel = path.relative_to(req.input_dir)
            name = rel.as_posix()
            outcome = FileOutcome(name, "failed")
            report.files.append(outcome)
            start = time.time()
            try:
                yield BatchProgress(i, len(files), name, i, len(files), 0.0)
                source = path.stat()
                done_before = None if req.overwrite else manifest.finished_output(name, source)
                if done_before is not None:
                    outcome.status, outcome.output, outcome.reason = "skipped", done_before, "done in an earlier run"
                    claims.mark(req.output_dir / done_before, name)
                    continue
                image = load_image(path)
                outcome.warnings = list(image.warnings)
                target = req.output_dir / rel.parent / f"{rel.stem}.{output_format(image.source_format, req.format)}"
                outcome.output = target.relative_to(req.output_dir).as_posix()
                claims.claim(target, path, name)
                if target.exists() and not req.overwrite:
                    outcome.status, outcome.reason = "skipped", "output exists (use --overwrite to redo it)"
                    continue
                result = yield from sub_progress(
                    run_steps(image, req.steps, req.options, cancel), i, len(files),
                    make=lambda done, total, p: BatchProgress(done, total, name, i, len(files), p.fraction))
                save_image(result, target, quality=req.quality, overwrite=req.overwrite)
                outcome.status = "done"
                manifest.add(name, source, outcome.output, round(time.time() - start, 3))
            except (Cancelled, GeneratorExit):
                report.files.pop()          # unfinished: neither done nor failed, and nothing was written
                raise
            except RestoraError as exc:
                outcome.reason = str(exc)
            except MemoryError as exc:
                outcome.reason = f"{path}: {OutOfMemoryError(exc)}"
            except Exception as exc:  # noqa: BLE001 - one bad file must not stop the batch
                outcome.reason = f"{path}: unexpected {type(exc).__name__}: {exc}"
            finally:
                outcome.seconds = round(time.time() - start, 3)
        yield BatchProgress(len(files), len(files), "done", len(files), len(files), 1.0)
    except Cancelled:
        report.cancelled = True
    except GeneratorExit:           # the driver closed the job after a cancel (the editor's worker does)
        report.cancelled = True
        raise
    finally:
        report.seconds = round(time.time() - t0, 3)
        write_report(report, req)
    return report


def write_report(report: BatchReport, req: BatchRequest) -> None:
    """restora-report[.shard-I-of-N].{json,txt} in the output folder, written atomically."""
    for suffix, text in ((".json", json.dumps(asdict(report), indent=2)), (".txt", report.summary())):
        path = report_path(req, suffix)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(text + "\n", encoding="utf-8", errors="surrogateescape")  # undecodable names as they are
        os.replace(tmp, path)


def read_report(path: Path) -> BatchReport:
    """The BatchReport saved as JSON at `path` (e.g. by a cancelled run); RestoraError if unreadable."""
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
        return BatchReport(**dict(raw, files=[FileOutcome(**f) for f in raw["files"]]))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise RestoraError(f"{path}: cannot read the batch report ({exc})") from exc


def preview_first(req: BatchRequest, cancel: CancelToken | None = None,
                  max_side: int = PREVIEW_SIDE) -> Generator[Progress, None, tuple[str, Image, Image]]:
    """The batch's first readable image, scaled to fit `max_side`, before and after the
    pipeline: yields Progress, returns (relative path, before, after). Unreadable files are
    passed over; RestoraError when the folder has no readable image."""
    for path in batch_files(req):
        try:
            image = load_image(path)
        except RestoraError:
            continue
        scale = max_side / max(image.width, image.height)
        if scale < 1:
            image = image.with_pixels(*_resized(image, scale))
        result = yield from run_steps(image, req.steps, req.options, cancel)
        return path.relative_to(req.input_dir).as_posix(), image, result
    raise RestoraError(f"{req.input_dir}: no readable image to preview")


def _resized(image: Image, scale: float):
    """(pixels, alpha) of `image` resized by `scale` (area-averaging, channel by channel in float)."""
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    pixels = image.float_pixels()

    def fit(plane: np.ndarray) -> np.ndarray:
        return np.asarray(PILImage.fromarray(plane).resize(size, PILImage.BOX))

    resized = np.stack([fit(pixels[..., c]) for c in range(image.channels)], axis=2)
    return resized.astype(np.float32), None if image.alpha is None else fit(image.alpha)
