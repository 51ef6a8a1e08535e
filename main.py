"""Restora's entry point: no arguments, an image or a folder open the editor; a verb
(restore, mask, repair, upscale, batch, finetune, models, bench) runs the headless command line."""
from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    from engine.cli import VERBS

    if argv and (argv[0] in VERBS or argv[0].startswith("-")):
        from engine.cli import main as cli_main

        return cli_main(argv)
    if len(argv) > 1:
        print(f"restora: the editor opens one image at a time; not opened: {', '.join(argv[1:])} "
              "(for many images: python main.py batch, or File > Batch Export)", file=sys.stderr)
    from gui.app import run

    return run(argv[0] if argv else None)


if __name__ == "__main__":
    raise SystemExit(main())
