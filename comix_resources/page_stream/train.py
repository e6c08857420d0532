"""Training of the page stream model on labelled ``BookFeatures``: split by book, AdamW,
class-weighted cross-entropy, early stopping on the validation loss.

Deterministic given the seed on one thread (``torch.set_num_threads(1)``).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from comix_resources.page_stream.config import PageStreamConfig
from comix_resources.page_stream.features import BookFeatures
from comix_resources.page_stream.model import PageStreamModel
from comix_resources.torch_models import EarlyStopping


@dataclass
class TrainResult:
    state_dict: dict[str, torch.Tensor]
    config: PageStreamConfig
    history: list[dict[str, float]]
    best_epoch: int
    best_val_loss: float
    seconds_per_epoch: float
    train_books: list[str]
    val_books: list[str]
    stopped_early: bool

    def model(self) -> PageStreamModel:
        """A fresh model in eval mode holding the best weights."""
        model = PageStreamModel(self.config)
        model.load_state_dict(self.state_dict)
        return model.eval()


def split_books(
    books: Sequence[BookFeatures], fraction: float, seed: int
) -> tuple[list[int], list[int]]:
    """Indices of ``books`` on each side: ``fraction`` of the groups (``group``, else
    ``book_id``) go to the second side, at least one group on each side when there are two.

    Groups keep copies of one title (the same book in other scans or demo seeds) together, so
    the held-out side never holds a book that training has seen.
    """
    keys = [b.group or b.book_id for b in books]
    groups = np.array(sorted(set(keys)))
    shuffled = groups[np.random.default_rng(seed).permutation(len(groups))]
    n = round(fraction * len(groups))
    n = min(max(n, 1), len(groups) - 1) if len(groups) > 1 else 0
    held = set(shuffled[:n].tolist())
    first = [i for i, k in enumerate(keys) if k not in held]
    second = [i for i, k in enumerate(keys) if k in held]
    return first, second


def batch_tensors(
    books: Sequence[BookFeatures], classes: Sequence[str], max_pages: int
) -> dict[str, torch.Tensor]:
    """Padded tensors of ``books``: vision, text, scalars (B, N, D), mask and labels (B, N);
    label -1 marks padding and unknown pages. Books longer than ``max_pages`` are cut."""
    n = min(max(len(b) for b in books), max_pages)
    dims = {k: getattr(books[0], k).shape[1] for k in ("vision", "text", "scalars")}
    out = {k: torch.zeros(len(books), n, d) for k, d in dims.items()}
    out["mask"] = torch.zeros(len(books), n, dtype=torch.bool)
    out["labels"] = torch.full((len(books), n), -1, dtype=torch.long)
    index = {c: i for i, c in enumerate(classes)}
    for i, book in enumerate(books):
        m = min(len(book), n)
        for key in dims:
            out[key][i, :m] = torch.from_numpy(np.asarray(getattr(book, key)[:m], np.float32))
        out["mask"][i, :m] = True
        for j, label in enumerate(book.labels[:m]):
            if label is not None:
                out["labels"][i, j] = index[label]
    return out


def class_weights(books: Sequence[BookFeatures], classes: Sequence[str]) -> torch.Tensor:
    """Inverse-frequency weights, mean 1 over the classes seen; unseen classes get 0."""
    counts = np.array(
        [sum(label == c for b in books for label in b.labels) for c in classes], float
    )
    weights = np.where(counts > 0, counts.sum() / np.maximum(counts, 1), 0.0)
    seen = weights > 0
    weights[seen] /= weights[seen].mean()
    return torch.tensor(weights, dtype=torch.float32)


def _loss(
    model: PageStreamModel,
    batch: dict[str, torch.Tensor],
    criterion: nn.Module,
    generator: torch.Generator | None,
) -> tuple[torch.Tensor, int]:
    drop_v = drop_t = None
    rate = model.config.modality_dropout
    if generator is not None and rate > 0:
        # One of the two modalities at most, so a page always keeps something to read.
        r = torch.rand(batch["mask"].shape, generator=generator)
        drop_v, drop_t = r < rate / 2, (r >= rate / 2) & (r < rate)
    logits = model(batch["vision"], batch["text"], batch["scalars"], batch["mask"], drop_v, drop_t)
    labels = batch["labels"]
    valid = int((labels >= 0).sum())
    return criterion(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1)), valid


def train(
    books: Sequence[BookFeatures],
    config: PageStreamConfig,
    seed: int = 0,
    val_books: Sequence[BookFeatures] | None = None,
    on_epoch: Callable[[int, dict[str, float]], None] | None = None,
) -> TrainResult:
    """Train on ``books`` (encoded, labelled) and keep the weights of the epoch with the
    lowest validation loss; stop after ``config.patience`` epochs without improvement.

    Validation books are ``val_books`` when given, else ``config.val_fraction`` of the groups
    of ``books`` (``split_books``). ``on_epoch(epoch, metrics)`` gets train_loss, val_loss and
    seconds_per_epoch (for MLflow). The scalar width and encoder widths are taken from the
    books, so ``config``'s dims need not match them.
    """
    torch.manual_seed(seed)
    books = [b for b in books if any(label is not None for label in b.labels)]
    if val_books is None:
        train_index, val_index = split_books(books, config.val_fraction, seed)
        train_set, val_set = [books[i] for i in train_index], [books[i] for i in val_index]
    else:
        train_set, val_set = list(books), list(val_books)
    if not train_set or not val_set:
        raise ValueError("need labelled books on both sides of the split (two groups or more)")
    if any(b.vision is None or b.text is None for b in (*train_set, *val_set)):
        raise ValueError("books must be encoded (encode_books) before training")
    first = train_set[0]
    config = dataclasses.replace(
        config,
        vision_dim=int(first.vision.shape[1]),  # type: ignore[union-attr]
        text_dim=int(first.text.shape[1]),  # type: ignore[union-attr]
        scalar_dim=int(first.scalars.shape[1]),
    )
    model = PageStreamModel(config)
    weights = class_weights(train_set, config.classes) if config.class_weighted else None
    criterion = nn.CrossEntropyLoss(weight=weights, ignore_index=-1)
    eval_criterion = nn.CrossEntropyLoss(ignore_index=-1, reduction="sum")
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay
    )
    generator = torch.Generator().manual_seed(seed)
    val_batch = batch_tensors(val_set, config.classes, config.max_pages)
    history: list[dict[str, float]] = []
    stopping = EarlyStopping(model, config.patience)
    for epoch in range(config.max_epochs):
        started = time.perf_counter()
        model.train()
        order = torch.randperm(len(train_set), generator=generator).tolist()
        total, pages = 0.0, 0
        for start in range(0, len(order), config.batch_size):
            batch = batch_tensors(
                [train_set[i] for i in order[start : start + config.batch_size]],
                config.classes,
                config.max_pages,
            )
            loss, valid = _loss(model, batch, criterion, generator)
            if valid == 0:
                continue
            optimizer.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            total, pages = total + loss.item() * valid, pages + valid
        seconds = time.perf_counter() - started
        model.eval()
        with torch.inference_mode():
            # Unweighted mean loss per page: comparable across epochs and runs.
            val_sum, val_pages = _loss(model, val_batch, eval_criterion, None)
        val_loss = val_sum.item() / max(val_pages, 1)
        metrics = {
            "train_loss": total / max(pages, 1),
            "val_loss": val_loss,
            "seconds_per_epoch": seconds,
        }
        history.append(metrics)
        if on_epoch is not None:
            on_epoch(epoch, metrics)
        if stopping.update(epoch, val_loss):
            break
    return TrainResult(
        state_dict=stopping.best_state,
        config=config,
        history=history,
        best_epoch=stopping.best_epoch,
        best_val_loss=stopping.best_loss,
        seconds_per_epoch=float(np.mean([m["seconds_per_epoch"] for m in history])),
        train_books=[b.book_id for b in train_set],
        val_books=[b.book_id for b in val_set],
        stopped_early=stopping.stopped_early,
    )
