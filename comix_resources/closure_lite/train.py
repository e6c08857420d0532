"""Training of Closure Lite on cached ``PanelFeatures``: book split, AdamW, early stopping.

Deterministic given the seed on one thread (``torch.set_num_threads(1)``): shuffling, panel
masking, views and noise all draw from CPU generators seeded here, also when the model runs
on a GPU (``device``). More threads may reorder floating-point sums and change the last
digits.

With ``config.finetune_vision`` the vision features are not the cached ones: every batch
runs its panel crops (``PanelCrops``) through the model's own EfficientNet-Lite0, which
trains with the rest at a smaller learning rate; its batch-norm statistics stay frozen
(batches of a few dozen crops would make them noise).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from comix_resources.closure_lite.config import ClosureLiteConfig
from comix_resources.closure_lite.encoding import PanelCrops
from comix_resources.closure_lite.features import PanelFeatures
from comix_resources.closure_lite.model import ClosureLite
from comix_resources.closure_lite.objectives import (
    masked_panel_loss,
    page_contrastive_loss,
    reading_order_loss,
)
from comix_resources.closure_lite.tensors import to_tensors
from comix_resources.encoders import pretrained_efficientnet_lite0
from comix_resources.torch_models import EarlyStopping

LOSS_NAMES = ("masked_panel", "reading_order", "page")
_GEOMETRY_HEADS = ("pair_geometry", "start_geometry")


@dataclass
class TrainResult:
    state_dict: dict[str, torch.Tensor]
    config: ClosureLiteConfig
    history: list[dict[str, float]]
    best_epoch: int
    best_val_loss: float
    seconds_per_epoch: float
    train_index: np.ndarray
    val_index: np.ndarray
    stopped_early: bool = field(default=False)

    def model(self) -> ClosureLite:
        """A fresh model in eval mode holding the best weights."""
        model = ClosureLite(self.config)
        model.load_state_dict(self.state_dict)
        return model.eval()

    def evaluate(
        self,
        model: ClosureLite,
        features: PanelFeatures,
        crops: PanelCrops | None = None,
        device: str = "cpu",
        seed: int = 0,
    ) -> tuple[PanelFeatures, dict[str, float]]:
        """The validation pages of ``features`` as ``model`` (``self.model()``) reads them (a
        fine-tuned model through its own vision encoder on ``crops``) and its held-out
        metrics on them, with the frozen-encoder baselines on the frozen features."""
        from comix_resources.closure_lite.evaluate import evaluate

        frozen = features.subset(self.val_index)
        validation = frozen
        if self.config.finetune_vision and crops is not None:
            validation = with_model_vision(
                model, frozen, crops.subset(self.val_index), device=device
            )
        return validation, evaluate(model, validation, seed=seed, frozen_features=frozen)


def split_by_book(
    book_ids: Sequence[str] | np.ndarray, val_fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Page indices of training and validation books; every page of a book is on one side.

    At least one book goes to each side when there are two or more books.
    """
    book_ids = np.asarray(book_ids)
    books = np.array(sorted(set(book_ids.tolist())))
    shuffled = books[np.random.default_rng(seed).permutation(len(books))]
    n_val = round(val_fraction * len(books))
    n_val = min(max(n_val, 1), len(books) - 1) if len(books) > 1 else 0
    val_books = set(shuffled[:n_val].tolist())
    is_val = np.array([b in val_books for b in book_ids.tolist()], dtype=bool)
    return np.flatnonzero(~is_val), np.flatnonzero(is_val)


def _random_slot(mask: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """One uniformly chosen real panel per page."""
    cpu_mask = mask.cpu()
    weights = cpu_mask.float() + 1e-12 * (~cpu_mask.any(1, keepdim=True)).float()
    return torch.multinomial(weights, 1, generator=generator).squeeze(1).to(mask.device)


def _view_mask(mask: torch.Tensor, rate: float, generator: torch.Generator) -> torch.Tensor:
    cpu_mask = mask.cpu()
    keep = cpu_mask & (torch.rand(cpu_mask.shape, generator=generator) >= rate)
    empty = ~keep.any(1)
    keep[empty] = cpu_mask[empty]  # a view never loses all of its panels
    return keep.to(mask.device)


def compute_losses(
    model: ClosureLite, batch: dict[str, torch.Tensor], generator: torch.Generator
) -> dict[str, torch.Tensor]:
    """The three objectives on one batch, and their weighted ``total``."""
    config = model.config
    mask = batch["mask"]

    def inputs() -> tuple[torch.Tensor, torch.Tensor]:
        vision, text = batch["vision"], batch["text"]
        if config.uses_denoising:
            vision, text = model.corrupt(vision, generator), model.corrupt(text, generator)
        return vision, text

    clean = model.fuse(batch["vision"], batch["text"], batch["composition"], mask)
    vision, text = inputs()
    fused = model.fuse(vision, text, batch["composition"], mask) if config.uses_denoising else clean

    # Masked panel: only pages with another panel to predict from.
    slot = _random_slot(mask, generator)
    pages = torch.nonzero(mask.sum(1) > 1).flatten()
    if len(pages):
        prediction = model.predict_masked(
            fused[pages], mask[pages], slot[pages], batch["composition"][pages]
        )
        masked = masked_panel_loss(prediction, clean, mask, pages, slot[pages], config.temperature)
    else:
        masked = clean.sum() * 0.0
    losses = {"masked_panel": masked}

    next_scores, start_scores = model.next_scores(
        model.contextualise(fused, mask), batch["composition"], mask
    )
    losses["reading_order"] = reading_order_loss(next_scores, start_scores, batch["order"], mask)

    views = []
    for _ in range(2):
        view = _view_mask(mask, config.panel_dropout, generator)
        vision, text = inputs()
        panels = model.contextualise(model.fuse(vision, text, batch["composition"], view), view)
        content = model.content(vision, text, view)
        views.append(model.pool_page(panels, view, batch["page_type"], content)[0])
    losses["page"] = page_contrastive_loss(views[0], views[1], batch["book"], config.temperature)
    losses["total"] = sum(config.loss_weights[name] * losses[name] for name in LOSS_NAMES)
    return losses


def _batches(n: int, size: int, generator: torch.Generator | None) -> list[torch.Tensor]:
    index = torch.randperm(n, generator=generator) if generator is not None else torch.arange(n)
    return list(index.split(size))


def _with_partners(
    index: torch.Tensor, books: torch.Tensor, generator: torch.Generator
) -> torch.Tensor:
    """``index`` followed by one partner per page: another page of its book when the book
    has one (itself otherwise), so the page objective always has same-book positives."""
    partners = []
    for i in index.tolist():
        same = torch.nonzero(books == books[i]).flatten()
        others = same[same != i]
        pool = others if len(others) else same
        partners.append(int(pool[torch.randint(len(pool), (1,), generator=generator)]))
    return torch.cat([index, torch.tensor(partners, dtype=index.dtype)])


def _set_mode(model: ClosureLite, training: bool) -> None:
    model.train(training)
    if model.config.finetune_vision:
        for module in model.vision_backbone.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.eval()


# On a GPU, every new number of crops in a batch is a new convolution shape, for which
# cuDNN builds new kernel plans: on an H200 the fine-tuning epochs of the demo library took
# 6 to 75 s, falling as shapes repeated. Padding the crop count to a multiple of this keeps
# to a few shapes; batch norm is frozen, so the padding never changes the real crops' output.
CROP_BATCH_MULTIPLE = 64


def _encode_crops(model: ClosureLite, pixels: torch.Tensor, multiple: int) -> torch.Tensor:
    """``model.encode_crops(pixels)``, run on a batch padded to a multiple of ``multiple``."""
    count = len(pixels)
    padding = -count % multiple if multiple > 1 else 0
    if padding:
        pixels = torch.cat([pixels, pixels.new_zeros((padding, *pixels.shape[1:]))])
    return model.encode_crops(pixels)[:count]


def _crop_features(
    model: ClosureLite, crops: PanelCrops, rows: torch.Tensor, mask: torch.Tensor
) -> torch.Tensor:
    """(B, P, Dv) vision features of pages ``rows`` of ``crops`` by the model's encoder."""
    device = mask.device
    vision = torch.zeros((*mask.shape, model.config.vision_dim), device=device)
    if mask.any():
        multiple = CROP_BATCH_MULTIPLE if device.type == "cuda" else 1
        pixels = crops.pixels(rows.tolist()).to(device)
        vision[mask] = _encode_crops(model, pixels, multiple)
    return vision


def _run_epoch(
    model: ClosureLite,
    data: dict[str, torch.Tensor],
    config: ClosureLiteConfig,
    generator: torch.Generator,
    optimizer: torch.optim.Optimizer | None,
    crops: PanelCrops | None = None,
    device: str = "cpu",
) -> dict[str, float]:
    """One pass; trains when ``optimizer`` is given, else evaluates without gradients.

    ``crops`` (fine-tuning): page ``data["row"][i]`` of it holds the crops of page i.
    """
    training = optimizer is not None
    _set_mode(model, training)
    totals = dict.fromkeys((*LOSS_NAMES, "total"), 0.0)
    n = len(data["mask"])
    with torch.set_grad_enabled(training):
        # Half a batch of pages, each with a same-book partner (the page objective's positives).
        half = max(1, config.batch_size // 2)
        for index in _batches(n, half, generator if training else None):
            pages = _with_partners(index, data["book"], generator)
            batch = {k: v[pages].to(device) for k, v in data.items()}
            if crops is not None:
                batch["vision"] = _crop_features(model, crops, data["row"][pages], batch["mask"])
            losses = compute_losses(model, batch, generator)
            if optimizer is not None:
                optimizer.zero_grad()
                losses["total"].backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                optimizer.step()
            for name in totals:
                totals[name] += losses[name].item() * len(index) / n
    return totals


def _parameter_groups(model: ClosureLite, config: ClosureLiteConfig) -> list[dict]:
    """AdamW groups: the reading-order geometry MLPs are small and see well-posed inputs; at
    the shared learning rate they had not learned the order by the time the other objectives
    began to overfit (and early stopping kicked in), so they get a larger one. A fine-tuned
    vision encoder gets a much smaller one."""
    rates = {
        **dict.fromkeys(_GEOMETRY_HEADS, config.learning_rate * config.geometry_lr_scale),
        "vision_backbone": config.learning_rate * config.finetune_lr_scale,
    }
    groups: dict[float, list[torch.nn.Parameter]] = {}
    for name, parameter in model.named_parameters():
        rate = rates.get(name.split(".")[0], config.learning_rate)
        groups.setdefault(rate, []).append(parameter)
    return [{"params": params, "lr": rate} for rate, params in groups.items()]


def train(
    features: PanelFeatures,
    config: ClosureLiteConfig,
    variant: str | None = None,
    seed: int = 0,
    on_epoch: Callable[[int, dict[str, float]], None] | None = None,
    crops: PanelCrops | None = None,
    device: str = "cpu",
) -> TrainResult:
    """Train one variant (``variant`` overrides ``config.variant``) on the training books of
    ``features`` and keep the weights of the epoch with the lowest validation loss of
    ``config.early_stopping_losses`` (``val_monitored`` in the history).

    Stops after ``config.patience`` epochs without improvement. ``on_epoch(epoch, metrics)``
    gets train_*/val_* losses and seconds per epoch (for MLflow). ``crops`` (the same pages
    as ``features``) is required with ``config.finetune_vision``; ``device`` runs the model
    there (``cuda`` for fine-tuning).
    """
    if variant is not None:
        config = dataclasses.replace(config, variant=variant)
    if config.finetune_vision and (crops is None or len(crops) != len(features)):
        raise ValueError("finetune_vision needs the panel crops of the same pages (PanelCrops)")
    torch.manual_seed(seed)
    np.random.seed(seed)
    has_panels = np.flatnonzero(features.mask.any(1))
    features = features.subset(has_panels)
    crops = crops.subset(has_panels) if config.finetune_vision and crops is not None else None
    train_index, val_index = split_by_book(features.book_ids, config.val_fraction, seed)
    if len(train_index) == 0 or len(val_index) == 0:
        raise ValueError("need pages of at least two books with panels to split by book")
    data = to_tensors(features)
    data["row"] = torch.arange(len(features))
    train_data = {k: v[train_index] for k, v in data.items()}
    val_data = {k: v[val_index] for k, v in data.items()}
    model = ClosureLite(config)
    if config.finetune_vision:
        model.vision_backbone.load_state_dict(pretrained_efficientnet_lite0().state_dict())
    model.to(device)
    optimizer = torch.optim.AdamW(
        _parameter_groups(model, config),
        lr=config.learning_rate,
        weight_decay=config.weight_decay,
    )
    generator = torch.Generator().manual_seed(seed)
    history: list[dict[str, float]] = []
    stopping = EarlyStopping(model, config.patience)
    for epoch in range(config.max_epochs):
        started = time.perf_counter()
        train_losses = _run_epoch(model, train_data, config, generator, optimizer, crops, device)
        seconds = time.perf_counter() - started
        # Same masks and views every epoch, so validation losses are comparable.
        val_losses = _run_epoch(
            model, val_data, config, torch.Generator().manual_seed(seed + 1), None, crops, device
        )
        metrics = {f"train_{k}": v for k, v in train_losses.items()}
        metrics |= {f"val_{k}": v for k, v in val_losses.items()}
        metrics["val_monitored"] = sum(
            config.loss_weights[name] * val_losses[name] for name in config.early_stopping_losses
        )
        metrics["seconds_per_epoch"] = seconds
        history.append(metrics)
        if on_epoch is not None:
            on_epoch(epoch, metrics)
        if stopping.update(epoch, metrics["val_monitored"]):
            break
    return TrainResult(
        state_dict={k: v.cpu() for k, v in stopping.best_state.items()},
        config=config,
        history=history,
        best_epoch=stopping.best_epoch,
        best_val_loss=stopping.best_loss,
        seconds_per_epoch=float(np.mean([m["seconds_per_epoch"] for m in history])),
        train_index=has_panels[train_index],
        val_index=has_panels[val_index],
        stopped_early=stopping.stopped_early,
    )


def with_model_vision(
    model: ClosureLite,
    features: PanelFeatures,
    crops: PanelCrops,
    batch_pages: int = 32,
    device: str = "cpu",
) -> PanelFeatures:
    """``features`` with the vision features of ``model``'s fine-tuned encoder instead of the
    frozen one's (``crops``: the same pages); what evaluating a fine-tuned model needs."""
    if len(crops) != len(features):
        raise ValueError(f"{len(crops)} pages of crops for {len(features)} pages of features")
    mask = torch.from_numpy(features.mask).to(device)
    parts = []
    model.to(device).eval()
    with torch.inference_mode():
        for start in range(0, len(features), batch_pages):
            rows = torch.arange(start, min(len(features), start + batch_pages))
            parts.append(_crop_features(model, crops, rows, mask[rows]).cpu().numpy())
    model.cpu()
    vision = np.concatenate(parts) if parts else np.zeros_like(features.vision)
    return dataclasses.replace(features, vision=vision.astype(np.float32))
