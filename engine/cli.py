"""The headless command line (ARCHITECTURE section 6): argument parsing for the
verbs, a progress bar on stderr, and the exit codes 0 (all inputs done),
1 (some inputs failed, each named on stderr) and 2 (bad usage / nothing can run)."""
from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import numpy as np
from tqdm import tqdm

from .batch import BatchRequest, OutputClaims, find_images, output_format, run_batch
from .errors import Cancelled, DeviceError, ModelError, ModelNotInstalledError, RestoraError
from .imageio import SAVE_FORMATS, load_image, load_mask, save_image
from .jobs import run_job
from .models import broken_cards, delete_user_model, find_model, get_card, list_models, user_models_dir
from .pipeline import check_installed, parse_steps
from .training.finetune_data import DEFAULT_LR as FINETUNE_DEFAULT_LR, METRIC_LABELS, FinetuneRequest, FinetuneStatus
from .types import DETECT_WORK_SIDE, Image, MaskRequest, RepairRequest, RestoreRequest, RunOptions, UpscaleRequest

VERBS = ("restore", "mask", "repair", "upscale", "batch", "finetune", "models", "bench")
EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"   # in the source checkout
# Each benchmark script and the argument lists `bench` runs it with, in the order it runs them.
BENCH_RUNS = {"doc_restore": [[]], "damage": [[]], "sr": [[]],
              "finetune": [[], ["--model", "damage-unet"], ["--model", "repair-unet"]],
              "batch_throughput": [[]], "gui_responsiveness": [[]], "gui_memory": [[]]}

DESCRIPTION = """Restora: local image restoration.

  python main.py                 open the editor
  python main.py IMAGE           open the editor with IMAGE (a folder: Batch Export on it)
  python main.py VERB ...        run headless (see VERB --help)

Outputs keep their input's file stem; existing outputs are skipped unless
--overwrite. Exit codes: 0 all inputs done, 1 some inputs failed (named on
stderr), 2 bad usage or a model that is not installed."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # argparse exits 2 on bad usage, as the contract says
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def _ranged(kind: type, lo: float, hi: float | None = None):
    """An argparse type: a number of `kind` from `lo` to `hi` (inclusive; no upper bound if None)."""
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {'a whole number' if kind is int else 'a number'}"
                                             ) from None
        if not lo <= value <= (hi if hi is not None else value):
            raise argparse.ArgumentTypeError(f"{text} is not " + (f"at least {lo}" if hi is None
                                                                   else f"between {lo} and {hi}"))
        return value
    return parse


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda", "mps"),
                   help="compute device (default: auto = cuda, then mps, then cpu)")
    p.add_argument("--tile", type=_ranged(int, 0), default=0, metavar="N",
                   help="tile size in pixels (default: 1024); smaller tiles use less memory")
    p.add_argument("--precision", default="auto", choices=("auto", "fp32"),
                   help="auto: mixed precision where the model keeps its quality (default); fp32: full")
    p.add_argument("--format", choices=sorted(set(SAVE_FORMATS)), default=None,
                   help="output format (default: the input's format when writable, else png)")
    p.add_argument("--quality", type=_ranged(int, 1, 100), default=92, metavar="Q",
                   help="JPEG/WebP quality 1-100 (default 92)")
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs")


def _full_size(p: argparse.ArgumentParser) -> None:
    p.add_argument("--full-size", action="store_true",
                   help="look for damage (repair: and fill it) at the picture's full size: a large picture is "
                        f"otherwise looked at reduced to a short side of {DETECT_WORK_SIDE} px (a page of text to "
                        "about 100 dpi), as the detector was trained, which finds wide creases, stains and tears whole "
                        "but misses specks finer than the reduction; its wide holes and tears are then also "
                        "filled at that size. Full size takes far longer on a large picture: the detector looks at "
                        "each picture 8 times, mirrored and turned")


def _io(p: argparse.ArgumentParser) -> None:
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="image files or folders of images")
    p.add_argument("-o", "--output", required=True, metavar="DIR", help="output folder (created if missing)")


def build_parser() -> argparse.ArgumentParser:
    ap = _Parser(prog="restora", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="verb", metavar="VERB", parser_class=_Parser)
    p = sub.add_parser("restore", help="clean scanned documents (U-Net)",
                       description="Clean scanned or photographed document pages with the document U-Net. "
                                   "Colour pages keep the colour of their ink and stamps.")
    _io(p)
    p.add_argument("--model", default=RestoreRequest().model, help="restoration model (default: %(default)s)")
    _common(p)
    p = sub.add_parser("mask", help="damage mask, 8-bit PNG, 255 = damaged",
                       description="Detect damage (scratches, dust, stains, holes, creases) and write STEM.png.")
    _io(p)
    p.add_argument("--model", default=MaskRequest().model, help="segmentation model (default: %(default)s)")
    p.add_argument("--threshold", type=_ranged(float, 0, 1), default=0.5,
                   help="damage score from which a pixel is damaged (default 0.5; lower finds more)")
    p.add_argument("--soft", action="store_true", help="write the damage score (0-255) instead of a 0/255 mask: "
                                                          "the mask at --threshold T is the score >= 255 T")
    _full_size(p)
    _common(p)
    p = sub.add_parser("repair", help="detect damage and fill it",
                       description="Fill damaged pixels; with --mask, fill the pixels the given mask (or, "
                                   "from a folder, the input's STEM.png mask) marks.")
    _io(p)
    p.add_argument("--mask", metavar="M.png|DIR", help="use this mask (white = damaged) instead of detecting, "
                                                       "for a single input; or a folder of masks, one per input: "
                                                       "STEM.png (as `mask` writes them) or STEM_mask.png (as "
                                                       "the editor exports them)")
    p.add_argument("--threshold", type=_ranged(float, 0, 1), default=0.5, help="detection threshold (default 0.5)")
    p.add_argument("--model", default=RepairRequest().model, help="inpainting model (default: %(default)s)")
    p.add_argument("--mask-model", default=RepairRequest().mask_model,
                   help="segmentation model used when no --mask is given (default: %(default)s)")
    _full_size(p)
    _common(p)
    p = sub.add_parser("upscale", help="super-resolution x2 or x4",
                       description="Upscale with an SRResNet-family generator, tiled so any size fits.")
    _io(p)
    p.add_argument("--scale", type=int, choices=(2, 4), default=4, help="upscaling factor (default 4)")
    p.add_argument("--variant", choices=("faithful", "sharp"), default="faithful",
                   help="faithful: highest fidelity (default); sharp: adversarially fine-tuned, crisper texture")
    p.add_argument("--model", default=None, help="a named upscaling model instead of the variant's")
    _common(p)
    p = sub.add_parser("batch", help="run a pipeline over a folder",
                       description="Run STEPS over every image in IN_DIR, writing OUT_DIR with the same "
                                   "sub-folders, and a report (restora-report.json/.txt) there. Re-running "
                                   "resumes: existing outputs are skipped.")
    p.add_argument("input_dir", metavar="IN_DIR")
    p.add_argument("-o", "--output", required=True, metavar="OUT_DIR")
    p.add_argument("--steps", required=True,
                   help="comma-separated steps in order: restore, repair, upscale:2, upscale:4 "
                        "(upscale:4:sharp for the sharp variant); add @MODEL to a step to use a named "
                        "model, e.g. restore@my-pages")
    p.add_argument("--recursive", action="store_true", help="include sub-folders")
    p.add_argument("--shard", default="0/1", metavar="I/N",
                   help="process only share I of N (0 <= I < N), e.g. --shard $SLURM_ARRAY_TASK_ID/8")
    _common(p)
    _finetune_parser(sub)
    p = sub.add_parser("models", help="list models with their measured quality",
                       description="List shipped and user models with their measured benchmark numbers.")
    p.add_argument("--delete", metavar="NAME", help=f"delete your own model NAME from {user_models_dir()}")
    p = sub.add_parser("bench", help="run the benchmarks (tables, benchmarks/results/*.json, model cards)",
                       description="Run the project's benchmark scripts (" + str(BENCHMARKS) + "), all of them or "
                                   "those named, as `make bench` does: each prints its tables and writes its "
                                   "results JSON, and the quality ones write their numbers into the model cards. "
                                   "The damage benchmark alone takes about 35 minutes on 2 CPU cores. For a "
                                   "script's own options run it directly, e.g. python benchmarks/damage.py --help.")
    p.add_argument("names", nargs="*", metavar="NAME",
                   help=f"benchmarks to run (default: all): {', '.join(BENCH_RUNS)}")
    return ap


def _finetune_parser(sub) -> None:
    defaults = FinetuneRequest("", "", Path())
    p = sub.add_parser("finetune", help="adapt a model to your own images",
                       description="Fine-tune a restore, mask or repair model on your own images and save it as a "
                                   "new model in the user data folder (" + str(user_models_dir()) + "), listed "
                                   "by `models` at once. Data: --degraded and "
                                   "--clean folders of pairs matched by file name (for a mask model, --clean "
                                   "holds the masks, white = damaged), or --clean-only with clean images that "
                                   "the project's synthetic damage degrades. 20% of the images (at least one) "
                                   "are held out for validation and the weights that do best on them are saved. "
                                   "Ctrl-C stops early and still saves the best weights so far.")
    p.add_argument("--model", required=True, help="the model to start from (shipped or your own)")
    p.add_argument("--name", required=True, help="name of the new model (not a shipped model's name)")
    data = p.add_mutually_exclusive_group(required=True)
    data.add_argument("--degraded", metavar="DIR", help="degraded images, paired by name with --clean")
    data.add_argument("--clean-only", metavar="DIR", help="clean images only; synthetic damage makes the inputs")
    p.add_argument("--clean", metavar="DIR", help="clean images (or masks) paired with --degraded")
    p.add_argument("--steps", type=int, default=defaults.steps, help="training steps (default %(default)s)")
    p.add_argument("--lr", type=float, help="peak learning rate (default: "
                   + ", ".join(f"{lr:g} for a {task} model" for task, lr in FINETUNE_DEFAULT_LR.items()) + ")")
    p.add_argument("--batch", type=int, default=defaults.batch, help="patches per step (default %(default)s)")
    p.add_argument("--patch", type=int, default=defaults.patch, help="patch side in pixels (default %(default)s)")
    p.add_argument("--eval-every", type=int, default=0, metavar="N",
                   help="validate every N steps (default: about ten times per run)")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda", "mps"),
                   help="compute device (default: auto = cuda, then mps, then cpu)")
    p.add_argument("--overwrite", action="store_true", help="replace your own model of the same name")


def expand_inputs(inputs: list[str]) -> tuple[list[Path], list[str]]:
    """Files as given and the images inside given folders; plus messages for missing paths
    and for folders without images."""
    files, missing = [], []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            found = find_images(p, recursive=False)
            if not found:
                missing.append(f"{item}: no images in this folder" + (
                    " (its sub-folders are not searched: `batch --recursive` goes into them)"
                    if find_images(p, recursive=True) else ""))
            files += found
        elif p.exists():
            files.append(p)
        else:
            missing.append(f"{item}: no such file or folder")
    return files, missing


class _Bar:
    """A tqdm bar on stderr driven by Progress reports."""

    def __init__(self, desc: str):
        self.bar = tqdm(total=1000, desc=desc, file=sys.stderr, leave=False, unit="‰",
                        bar_format="{desc}: {percentage:3.0f}%|{bar}| {elapsed}<{remaining}", disable=None)

    def __call__(self, p) -> None:
        if p.total and p.done == 0 and p.stage.startswith("out of"):
            tqdm.write(p.stage, file=sys.stderr)
        self.bar.n = int(1000 * p.fraction)
        self.bar.refresh()

    def close(self) -> None:
        self.bar.close()


def _error(msg: str) -> None:
    tqdm.write(f"error: {msg}", file=sys.stderr)


def _run_files(args, check, job_for, write=None) -> int:
    """Shared loop of the per-file verbs: load, skip if the output exists, run, write.
    `check(options)` raises before any work if a model is missing; `job_for(image, options)`
    gives the job; `write(result, source, target)` saves a non-image result (masks).
    Returns the exit code."""
    files, missing = expand_inputs(args.inputs)
    options = RunOptions(args.device, args.tile, args.precision)
    try:
        check(options)
    except (ModelNotInstalledError, DeviceError) as exc:
        _error(str(exc))
        return EXIT_USAGE
    for m in missing:
        _error(m)
    failed = len(missing)
    out_dir = Path(args.output)
    claims = OutputClaims(files)
    for path in tqdm(files, desc="files", file=sys.stderr, disable=None if len(files) > 1 else True):
        bar = _Bar(path.name)
        try:
            image = load_image(path)
            for w in image.warnings:
                tqdm.write(f"warning: {path}: {w}", file=sys.stderr)
            ext = "png" if write else output_format(image.source_format, args.format)
            target = out_dir / f"{path.stem}.{ext}"
            claims.claim(target, path)
            if target.exists() and not args.overwrite:
                tqdm.write(f"skipped {path}: {target} exists (use --overwrite)", file=sys.stderr)
                continue
            result = run_job(job_for(image, options), bar)
            if write:
                write(result, image, target)
            else:
                save_image(result, target, quality=args.quality, overwrite=args.overwrite)
        except DeviceError as exc:
            _error(str(exc))
            return EXIT_USAGE
        except RestoraError as exc:
            message = str(exc)                     # loading names the file; a model's refusal may not
            _error(message if str(path) in message else f"{path}: {message}")
            failed += 1
        except Exception as exc:  # noqa: BLE001 - as in a batch, one file's failure must not stop the rest
            _error(f"{path}: unexpected {type(exc).__name__}: {exc}")
            failed += 1
        finally:
            bar.close()
    return EXIT_FAILED if failed else EXIT_OK


def cmd_restore(args) -> int:
    from .ops.restore import restore

    return _run_files(args, lambda o: get_card(args.model),
                      lambda im, o: restore(im, RestoreRequest(model=args.model, options=o)))


def cmd_mask(args) -> int:
    from .ops.segment import detect_damage

    def write(mask, source: Image, target: Path):
        save_image(Image(pixels=mask[..., None], source=source.source), target, format="png",
                   overwrite=args.overwrite)

    return _run_files(args, lambda o: get_card(args.model),
                      lambda im, o: detect_damage(im, MaskRequest(model=args.model, threshold=args.threshold,
                                                                  soft=args.soft, options=o,
                                                                  scale=1.0 if args.full_size else None)), write)


def cmd_repair(args) -> int:
    from .ops.repair import repair

    mask_path = Path(args.mask) if args.mask else None
    if mask_path is not None and not mask_path.is_dir():
        if len(args.inputs) != 1 or Path(args.inputs[0]).is_dir():
            _error("--mask M.png applies to exactly one input image; give a folder of masks for many")
            return EXIT_USAGE
        if not mask_path.is_file():
            _error(f"{mask_path}: no such mask file")
            return EXIT_USAGE

    def mask_for(image: Image) -> np.ndarray | None:
        if mask_path is None:
            return None
        path = mask_path
        if mask_path.is_dir():       # STEM.png as `mask` writes it, STEM_mask.png as the editor exports it
            stem = Path(image.source).stem
            names = (f"{stem}.png", f"{stem}_mask.png")
            path = next((mask_path / n for n in names if (mask_path / n).is_file()), None)
            if path is None:
                raise RestoraError(f"{image.source}: no mask for it in {mask_path} (looked for {' and '.join(names)})")
        return (load_mask(path, image.width, image.height) > 0.5).astype(np.float32)

    req = lambda o: RepairRequest(args.model, args.mask_model, args.threshold, o,  # noqa: E731
                                  scale=1.0 if args.full_size else None)

    def check(o):
        get_card(req(o).model)
        if mask_path is None:
            get_card(req(o).mask_model)

    return _run_files(args, check, lambda im, o: repair(im, req(o), mask_for(im)))


def cmd_upscale(args) -> int:
    from .ops.upscale import upscale

    req = lambda o: UpscaleRequest(scale=args.scale, variant=args.variant, model=args.model, options=o)  # noqa: E731
    check = (lambda o: get_card(args.model)) if args.model else (lambda o: find_model("upscale", args.scale,
                                                                                        args.variant))
    return _run_files(args, check, lambda im, o: upscale(im, req(o)))


def cmd_batch(args) -> int:
    try:
        steps = parse_steps(args.steps)
        i, n = (int(x) for x in args.shard.split("/"))
        if not 0 <= i < n:
            raise ValueError
    except RestoraError as exc:
        _error(str(exc))
        return EXIT_USAGE
    except ValueError:
        _error(f"--shard {args.shard!r}: expected I/N with 0 <= I < N, e.g. 0/4")
        return EXIT_USAGE
    in_dir = Path(args.input_dir)
    if not in_dir.is_dir():
        _error(f"{in_dir}: not a folder")
        return EXIT_USAGE
    try:
        check_installed(steps)
    except ModelNotInstalledError as exc:
        _error(str(exc))
        return EXIT_USAGE
    req = BatchRequest(in_dir, Path(args.output), steps, args.recursive, args.format, args.quality,
                       args.overwrite, (i, n), RunOptions(args.device, args.tile, args.precision))
    bar = _Bar("batch")
    try:
        report = run_job(run_batch(req), bar)
    except DeviceError as exc:
        _error(str(exc))
        return EXIT_USAGE
    except RestoraError as exc:       # a folder without images
        _error(str(exc))
        return EXIT_FAILED
    finally:
        bar.close()
    for f in report.files:
        if f.status == "failed":
            _error(f.reason)
        for w in f.warnings:
            print(f"warning: {in_dir / f.source}: {w}", file=sys.stderr)
    print(report.summary().splitlines()[0], file=sys.stderr)
    return EXIT_FAILED if report.count("failed") else EXIT_OK


def cmd_finetune(args) -> int:
    from .training.finetune import finetune

    if bool(args.degraded) != bool(args.clean):
        _error("--degraded and --clean go together (or give --clean-only)")
        return EXIT_USAGE
    req = FinetuneRequest(args.model, args.name, Path(args.clean or args.clean_only),
                          Path(args.degraded) if args.degraded else None, steps=args.steps, lr=args.lr,
                          batch=args.batch, patch=args.patch, device=args.device, eval_every=args.eval_every,
                          overwrite=args.overwrite)
    bar = _Bar(f"fine-tuning {args.name}")
    step = 0

    def report(p) -> None:
        nonlocal step
        bar(p)
        step = p.done
        if isinstance(p, FinetuneStatus) and p.value is not None:
            loss = "" if p.loss is None else f", training loss {p.loss:.4g}"
            tqdm.write(f"step {p.done}/{p.total}: validation {METRIC_LABELS[p.metric]} {p.value:.5g} "
                       f"(start {p.before:.5g}){loss}", file=sys.stderr)

    try:
        result = run_job(finetune(req), report)
    except DeviceError as exc:
        _error(str(exc))
        return EXIT_USAGE
    except KeyboardInterrupt:
        _error(f"interrupted at step {step}; " + _saved_on_cancel(args.name))
        return 130
    finally:
        bar.close()
    print(f"saved model {result.name}: validation {METRIC_LABELS[result.metric]} {result.before:.5g} -> "
          f"{result.after:.5g} (best at step {result.best_step} of {result.steps_done}){result.known_damage_note()}; "
          f"{result.card_path}",
          file=sys.stderr)
    return EXIT_OK


def _saved_on_cancel(name: str) -> str:
    """What an interrupted fine-tune left behind, for the message."""
    try:
        card = get_card(name)
    except (ModelNotInstalledError, ModelError):
        card = None
    if card is not None and card.source == "user" and card.training.get("cancelled"):
        return f"the best weights so far were saved as model {name!r}"
    return "no model was saved (no validation had improved on the starting model yet)"


def cmd_models(args) -> int:
    if args.delete:
        delete_user_model(args.delete)       # a refusal is a RestoraError: exit 2, said by main()
        print(f"deleted model {args.delete!r}", file=sys.stderr)
        return EXIT_OK
    cards = list_models()
    if not cards:
        print("no models installed")
    for c in cards:
        state = "" if c.installed else "  [weights missing]"
        extra = f" x{c.scale}" if c.task == "upscale" else ""
        print(f"{c.name:24} {c.task + extra:12} {c.source:8} {c.summary()}{state}")
    for msg in broken_cards():
        print(f"error: {msg}", file=sys.stderr)
    return EXIT_OK


def cmd_bench(args) -> int:
    unknown = [n for n in args.names if n not in BENCH_RUNS]
    if unknown:
        _error(f"no benchmark named {', '.join(unknown)}; the benchmarks are {', '.join(BENCH_RUNS)}")
        return EXIT_USAGE
    if not BENCHMARKS.is_dir():
        _error(f"{BENCHMARKS}: no such folder; the benchmarks come with the source checkout, not the package")
        return EXIT_USAGE
    failed = []
    for name in args.names or BENCH_RUNS:
        for extra in BENCH_RUNS[name]:
            run = " ".join([f"benchmarks/{name}.py", *extra])
            print(f"bench: {run}", file=sys.stderr, flush=True)
            if subprocess.run([sys.executable, str(BENCHMARKS / f"{name}.py"), *extra]).returncode != 0:
                failed.append(run)
    for run in failed:
        _error(f"{run} failed (its output above says why)")
    return EXIT_FAILED if failed else EXIT_OK


COMMANDS = {"restore": cmd_restore, "mask": cmd_mask, "repair": cmd_repair, "upscale": cmd_upscale,
            "batch": cmd_batch, "finetune": cmd_finetune, "models": cmd_models, "bench": cmd_bench}


def main(argv: list[str] | None = None) -> int:
    """Parse `argv` (without the program name) and run the verb; returns the exit code."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exit_:          # --help (0) or bad usage (2): return, don't exit, for callers
        return int(exit_.code or 0)
    if args.verb is None:
        build_parser().print_help()
        return EXIT_USAGE
    try:
        return COMMANDS[args.verb](args)
    except Cancelled:
        return EXIT_FAILED
    except KeyboardInterrupt:
        _error("interrupted; no partial files were written")
        return 130
    except RestoraError as exc:
        _error(str(exc))
        return EXIT_USAGE


__all__ = ["main", "build_parser", "VERBS"]
