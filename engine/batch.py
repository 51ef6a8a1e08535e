"""Folder in, folder out: find the images (os.scandir, so odd names are kept),
run the pipeline on each, write outputs keeping the sub-folder tree, record
per-file failures and go on, skip outputs that already exist (resume), and
write a JSON + text report beside the outputs. `shard=(i, n)` takes a stable
1/n share of the files for cluster job arrays."""
from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Generator

from PIL import Image as PILImage

from .errors import Cancelled, RestoraError
from .imageio import SAVE_FORMATS, load_image, save_image
from .jobs import sub_progress
from .pipeline import Step, run_steps
from .types import CancelToken, Progress, RunOptions

IMAGE_SUFFIXES = frozenset(s.lower() for s in PILImage.registered_extensions())


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


@dataclass
class FileOutcome:
    source: str                      # path relative to the input folder
    status: str                      # "done", "skipped" or "failed"
    output: str | None = None        # path relative to the output folder
    reason: str = ""
    seconds: float = 0.0


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
        lines = [f"{self.count('done')} done, {self.count('skipped')} skipped, {self.count('failed')} failed "
                 f"in {self.seconds:.1f} s" + (" (cancelled)" if self.cancelled else "")]
        lines += [f"failed: {f.reason}" for f in self.files if f.status == "failed"]
        lines += [f"skipped: {f.source}: {f.reason}" for f in self.files if f.status == "skipped"]
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


def output_format(source_format: str | None, requested: str | None) -> str:
    """The output extension: the requested one, else the input's when writable, else png."""
    if requested:
        return requested
    for ext, fmt in SAVE_FORMATS.items():
        if fmt == source_format:
            return ext
    return "png"


def run_batch(req: BatchRequest, cancel: CancelToken | None = None) -> Generator[Progress, None, BatchReport]:
    """Process the folder; yields Progress (files x tiles); returns the report (also written to disk)."""
    t0 = time.time()
    out_dir = req.output_dir.resolve()
    files = [p for p in find_images(req.input_dir, req.recursive, out_dir)
             if in_shard(p.relative_to(req.input_dir).as_posix(), req.shard)]
    report = BatchReport(str(req.input_dir), str(req.output_dir), [str(s) for s in req.steps])
    claimed: dict[Path, str] = {}
    try:
        for i, path in enumerate(files):
            rel = path.relative_to(req.input_dir)
            outcome = FileOutcome(rel.as_posix(), "failed")
            report.files.append(outcome)
            start = time.time()
            yield Progress(i, len(files), rel.as_posix())
            try:
                image = load_image(path)
                target = req.output_dir / rel.parent / f"{rel.stem}.{output_format(image.source_format, req.format)}"
                outcome.output = target.relative_to(req.output_dir).as_posix()
                if target in claimed:
                    raise RestoraError(f"{path}: its output {target.name} would overwrite the output of "
                                       f"{claimed[target]} (same name stem)")
                claimed[target] = rel.as_posix()
                if target.exists() and not req.overwrite:
                    outcome.status, outcome.reason = "skipped", "output exists (use --overwrite to redo it)"
                    continue
                result = yield from sub_progress(run_steps(image, req.steps, req.options, cancel), i, len(files),
                                                 rel.as_posix())
                save_image(result, target, quality=req.quality, overwrite=req.overwrite)
                outcome.status = "done"
            except Cancelled:
                report.files.pop()
                raise
            except RestoraError as exc:
                outcome.reason = str(exc)
            except Exception as exc:  # noqa: BLE001 - one bad file must not stop the batch
                outcome.reason = f"{path}: unexpected {type(exc).__name__}: {exc}"
            finally:
                outcome.seconds = round(time.time() - start, 3)
        yield Progress(len(files), len(files), "done")
    except Cancelled:
        report.cancelled = True
    report.seconds = round(time.time() - t0, 3)
    write_report(report, req)
    return report


def write_report(report: BatchReport, req: BatchRequest) -> None:
    """restora-report[.shard-I-of-N].{json,txt} in the output folder, written atomically."""
    req.output_dir.mkdir(parents=True, exist_ok=True)
    stem = "restora-report" + (f".shard-{req.shard[0]}-of-{req.shard[1]}" if req.shard[1] > 1 else "")
    for suffix, text in ((".json", json.dumps(asdict(report), indent=2)), (".txt", report.summary())):
        path = req.output_dir / (stem + suffix)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(text + "\n", encoding="utf-8")
        os.replace(tmp, path)
