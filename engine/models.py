"""The model registry: shipped models in resources/models and the user's own
(fine-tuned) models in the user data folder, each a `NAME.safetensors` beside a
`NAME.json` model card. Loading checks the SHA-256 of the weights first and
never unpickles anything."""
from __future__ import annotations

import hashlib
import json
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path

import platformdirs

from .errors import ModelError, ModelNotInstalledError

SHIPPED_DIR = Path(__file__).resolve().parent.parent / "resources" / "models"
TASKS = ("restore", "mask", "repair", "upscale")


def user_data_dir() -> Path:
    """The person's Restora folder: $RESTORA_DATA_DIR or the platform's user data folder."""
    return Path(os.environ.get("RESTORA_DATA_DIR") or platformdirs.user_data_dir("Restora", appauthor=False))


def user_models_dir() -> Path:
    """Where fine-tuned models live: the `models` folder of `user_data_dir()`."""
    return user_data_dir() / "models"


def sha256_file(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@dataclass(frozen=True)
class ModelCard:
    """What a model card says, plus where it was found."""

    name: str
    task: str
    arch: str
    params: dict
    weights: Path
    sha256: str
    card_path: Path
    scale: int = 1
    channels: int = 3
    variant: str = ""
    title: str = ""
    source: str = "shipped"                    # "shipped" or "user"
    autocast: bool = True                      # mixed precision keeps its quality
    training: dict = field(default_factory=dict)
    benchmarks: dict = field(default_factory=dict)

    @property
    def installed(self) -> bool:
        return self.weights.is_file()

    def summary(self) -> str:
        """One line of measured quality (the card's headline benchmark numbers) for listings."""
        headline = self.benchmarks.get("headline", {})
        if not headline:
            return "not benchmarked"
        return ", ".join(f"{k} {v:g}" if isinstance(v, (int, float)) else f"{k} {v}" for k, v in headline.items())


def read_card(card_path: str | os.PathLike, source: str = "shipped") -> ModelCard:
    """Parse one model card; a malformed card raises ModelError naming the file."""
    card_path = Path(card_path)
    try:
        raw = json.loads(card_path.read_text(encoding="utf-8"))
        return ModelCard(
            name=raw["name"], task=raw["task"], arch=raw["arch"], params=dict(raw["params"]),
            weights=card_path.with_name(raw["weights"]), sha256=raw["sha256"], card_path=card_path,
            scale=int(raw.get("scale", 1)), channels=int(raw.get("channels", 3)),
            variant=raw.get("variant", ""), title=raw.get("title", raw["name"]), source=source,
            autocast=bool(raw.get("autocast", True)), training=raw.get("training", {}),
            benchmarks=raw.get("benchmarks", {}))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ModelError(f"{card_path}: not a valid model card ({exc})") from exc


def list_models(task: str | None = None) -> list[ModelCard]:
    """All models with a card (shipped first, then the user's), optionally for one task."""
    cards: list[ModelCard] = []
    for folder, source in ((SHIPPED_DIR, "shipped"), (user_models_dir(), "user")):
        if folder.is_dir():
            for p in sorted(folder.glob("*.json")):
                try:
                    cards.append(read_card(p, source))
                except ModelError:
                    continue  # a broken user card must not hide the others; `models` reports it
    return [c for c in cards if task is None or c.task == task]


def broken_cards() -> list[str]:
    """Messages for model cards that could not be read, for `models` to show."""
    out = []
    for folder in (SHIPPED_DIR, user_models_dir()):
        if folder.is_dir():
            for p in sorted(folder.glob("*.json")):
                try:
                    read_card(p)
                except ModelError as exc:
                    out.append(str(exc))
    return out


def get_card(name: str) -> ModelCard:
    """The model called `name` (a user model of the same name wins over a shipped one)."""
    matches = [c for c in list_models() if c.name == name]
    if not matches:
        raise ModelNotInstalledError(
            f"model {name!r} is not installed; `python main.py models` lists the installed models")
    return matches[-1]


def delete_user_model(name: str) -> None:
    """Delete the person's own model `name` (its card, then its weights); ModelError for a
    shipped model, an unknown name, or a file that cannot be removed."""
    cards = [c for c in list_models() if c.name == name]
    mine = [c for c in cards if c.source == "user"]
    if not mine:
        raise ModelError(f"model {name!r} is shipped with Restora and cannot be deleted" if cards else
                         f"no model of your own is called {name!r}")
    card = mine[-1]
    try:
        card.card_path.unlink()              # first: a model without its card is no longer listed
        card.weights.unlink(missing_ok=True)
    except OSError as exc:
        raise ModelError(f"{card.card_path}: cannot delete model {name!r} ({exc.strerror or exc})") from exc


def find_model(task: str, scale: int | None = None, variant: str | None = None) -> ModelCard:
    """The shipped model for `task` (and scale/variant for upscaling)."""
    cands = [c for c in list_models(task) if c.source == "shipped"
             and (scale is None or c.scale == scale) and (not variant or c.variant == variant)]
    if not cands:
        what = task + (f" x{scale}" if scale else "") + (f" ({variant})" if variant else "")
        raise ModelNotInstalledError(
            f"no trained model for {what} is installed yet; this step cannot run "
            f"(`python main.py models` lists what is installed)")
    return cands[0]


_cache: dict[tuple, object] = {}
_cache_lock = threading.Lock()


def load_network(card: ModelCard, device="cpu"):
    """The card's network on `device`, in eval mode, float32, channels_last.
    Verifies the weights' SHA-256 first; results are cached per (model, device)."""
    import torch
    from safetensors.torch import load_file

    from .nets import build

    key = (card.name, str(card.card_path), card.sha256, str(device))
    with _cache_lock:
        if key in _cache:
            return _cache[key]
    if not card.weights.is_file():
        raise ModelNotInstalledError(f"{card.weights}: weights file of model {card.name!r} is missing")
    digest = sha256_file(card.weights)
    if digest != card.sha256:
        raise ModelError(f"{card.weights}: weights of model {card.name!r} are corrupted "
                         f"(SHA-256 {digest[:12]}... does not match the card's {card.sha256[:12]}...)")
    try:
        state = load_file(str(card.weights))
        net = build(card.arch, **card.params)
        result = net.load_state_dict({k: v.float() for k, v in state.items()}, strict=False)
        missing = [k for k in result.missing_keys if not k.endswith("num_batches_tracked")]
        if missing or result.unexpected_keys:
            raise ValueError(f"tensors missing {missing[:3]}, unexpected {result.unexpected_keys[:3]}")
    except Exception as exc:  # noqa: BLE001 - any parse failure is a damaged file to the user
        raise ModelError(f"{card.weights}: cannot load weights of model {card.name!r} ({exc})") from exc
    net = net.eval().to(device).to(memory_format=torch.channels_last)
    for p in net.parameters():
        p.requires_grad_(False)
    with _cache_lock:
        _cache.clear()          # keep one network resident: memory matters more than a reload
        _cache[key] = net
    return net
