"""Batch throughput and memory: 100 generated dirty pages (1000x1400) restored by
`engine.batch.run_batch`, images/s and megapixels/s, and the process's resident
memory sampled after every file, to show it stays flat as the folder grows.

    python benchmarks/batch_throughput.py [--pages 100]
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image as PILImage

from common import print_table, write_result

from engine.batch import BatchRequest, run_batch
from engine.jobs import run_job
from engine.pipeline import parse_steps
from engine.training.synth_docs import synth_page
from engine.types import RunOptions

WIDTH, HEIGHT = 1000, 1400


def rss_mb() -> float:
    """Resident memory of this process now (Linux /proc), in MB."""
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 1e6


def make_pages(folder: Path, count: int) -> None:
    """`count` dirty pages, each a random 2x3 arrangement of ten generated 512 px pieces."""
    rng = np.random.default_rng(0)
    pieces = [synth_page(rng, 512)[0] for _ in range(10)]
    for i in range(count):
        rows = [np.concatenate([pieces[j] for j in rng.integers(0, 10, 2)], axis=1) for _ in range(3)]
        page = np.concatenate(rows, axis=0)[:HEIGHT, :WIDTH]
        PILImage.fromarray((page * 255 + 0.5).astype(np.uint8)).save(folder / f"page{i:03d}.png")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--pages", type=int, default=100)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="restora-batch-bench-") as tmp:
        src, out = Path(tmp) / "in", Path(tmp) / "out"
        src.mkdir()
        make_pages(src, args.pages)
        samples: list[tuple[int, float]] = []

        def sample(p) -> None:
            if getattr(p, "file_index", None) is not None and (not samples or samples[-1][0] != p.file_index):
                samples.append((p.file_index, rss_mb()))

        req = BatchRequest(src, out, parse_steps("restore"), options=RunOptions(device="cpu"))
        t = time.perf_counter()
        report = run_job(run_batch(req), sample)
        seconds = time.perf_counter() - t
    done = report.count("done")
    mp = done * WIDTH * HEIGHT / 1e6
    after_10 = [m for i, m in samples if i >= 10]
    res = {"pages": args.pages, "page_size": [WIDTH, HEIGHT], "done": done, "failed": report.count("failed"),
           "seconds": round(seconds, 2), "images_per_s": done / seconds, "megapixels_per_s": mp / seconds,
           "rss_mb_after_file_10": after_10[0] if after_10 else None,
           "rss_mb_max_after_file_10": max(after_10) if after_10 else None,
           "rss_mb_at_last_file": samples[-1][1] if samples else None,
           "rss_mb_samples": [[i, round(m, 1)] for i, m in samples]}
    print_table(["batch restore", "value"], [
        ["pages (1000x1400)", done], ["seconds", res["seconds"]], ["images / s", res["images_per_s"]],
        ["megapixels / s", res["megapixels_per_s"]],
        ["resident MB after file 10", res["rss_mb_after_file_10"]],
        ["resident MB, most after file 10", res["rss_mb_max_after_file_10"]],
        ["resident MB at the last file", res["rss_mb_at_last_file"]]])
    print(f"\nwrote {write_result('batch_throughput', res)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
