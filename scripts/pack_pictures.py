"""Copy the damage models' clean training pictures into a compact folder to carry to a
GPU machine (its working tree travels with a 64 MiB limit): photos as JPEG quality 95
without chroma subsampling, document pages as PNG. Names (and so the held-out split)
are kept. Usage: python scripts/pack_pictures.py [DATASETS] [OUT]  (then train with
--datasets OUT)."""
from __future__ import annotations

import sys
from pathlib import Path

from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from engine.training.damage import SOURCES  # noqa: E402


def main() -> int:
    src = Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/datasets")
    out = Path(sys.argv[2] if len(sys.argv) > 2 else "gpu_data")
    for folder in SOURCES:
        (out / folder).mkdir(parents=True, exist_ok=True)
        for p in sorted((src / folder).iterdir()):
            if p.suffix.lower() not in (".png", ".bmp", ".jpg"):
                continue
            img = Image.open(p)
            if folder.startswith("docs/"):
                img.save(out / folder / f"{p.stem}.png", optimize=True)
            else:
                img.convert("RGB").save(out / folder / f"{p.stem}.jpg", quality=95, subsampling=0)
    print(f"packed into {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
