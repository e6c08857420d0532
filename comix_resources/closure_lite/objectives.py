"""Training objectives of Closure Lite, each with real positives and negatives.

- ``masked_panel_loss`` (InfoNCE): the prediction for a masked panel must be closer to that
  panel's content embedding than to every other real panel in the batch, its own page's
  other panels included (the hard negatives). The target is the fused embedding of the
  clean panel, computed in the same pass, so the loss is a cross-entropy over at least two
  candidates: log(#candidates) at chance, never identically zero (the original base
  variant compared a tensor with itself).
- ``reading_order_loss``: for every panel that has a successor, a cross-entropy over all
  other real panels of its page (the adjacency mask picks the true next one), plus a
  cross-entropy for which panel starts the page. Candidates are n-1 panels, not a binary
  "is next" label, so the loss cannot be won by predicting the majority class (the
  original's labels were almost all "not next").
- ``page_contrastive_loss`` (supervised contrastive, SupCon): every page of a batch comes
  with a partner page of the same book, and each page is seen in two views that miss a
  random subset of panels (noised for denoise variants). A view's positives are its other
  view and both views of the pages of its book; every page of another book is a negative.
  Real positives (a book's pages share series, cast, palette and lettering) and real
  negatives. Same-book retrieval on *held-out* books then measures whether the page
  embedding learned what makes a book's pages alike in general, not which books it saw,
  as metric learning is evaluated on unseen classes.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F


def info_nce(
    query: torch.Tensor, keys: torch.Tensor, positive: torch.Tensor, temperature: float
) -> torch.Tensor:
    """Mean cross-entropy of picking ``keys[positive[i]]`` for ``query[i]`` (cosine / T)."""
    logits = F.normalize(query, dim=-1) @ F.normalize(keys, dim=-1).T / temperature
    return F.cross_entropy(logits, positive)


def masked_panel_loss(
    prediction: torch.Tensor,
    fused: torch.Tensor,
    mask: torch.Tensor,
    pages: torch.Tensor,
    slots: torch.Tensor,
    temperature: float,
) -> torch.Tensor:
    """InfoNCE of ``prediction`` (M, H) for panel ``slots[m]`` of page ``pages[m]`` against
    every real panel of the batch (``fused`` (B, P, H) restricted to ``mask``)."""
    position = torch.cumsum(mask.flatten().long(), 0) - 1  # index among the real panels
    positive = position[pages * mask.shape[1] + slots]
    return info_nce(prediction, fused[mask], positive, temperature)


def reading_order_loss(
    next_scores: torch.Tensor, start_scores: torch.Tensor, order: torch.Tensor, mask: torch.Tensor
) -> torch.Tensor:
    """Cross-entropy over candidate next panels (and start panels); ``order`` (B, P) is each
    slot's reading-order rank, -1 on padding. Scores of disallowed pairs are already very low."""
    # adjacency[b, i, j]: panel j directly follows panel i.
    adjacency = (
        (order.unsqueeze(2) + 1 == order.unsqueeze(1)) & mask.unsqueeze(1) & mask.unsqueeze(2)
    )
    has_next = adjacency.any(-1)
    pages = mask.sum(1) > 1  # a one-panel page has nothing to order
    if not pages.any():
        return (
            next_scores.sum() * 0.0
        )  # keeps the graph; a batch of one-panel pages teaches nothing
    target = adjacency.float().argmax(-1)
    next_loss = F.cross_entropy(next_scores[has_next], target[has_next])
    start_target = ((order == 0) & mask).float().argmax(-1)
    start_loss = F.cross_entropy(start_scores[pages], start_target[pages])
    return next_loss + start_loss


def page_contrastive_loss(
    view_a: torch.Tensor, view_b: torch.Tensor, books: torch.Tensor, temperature: float
) -> torch.Tensor:
    """SupCon over two views (B, H) of B pages whose books are ``books`` (B,): positives are
    the other view and the views of same-book pages; each anchor has at least one."""
    z = F.normalize(torch.cat([view_a, view_b]), dim=-1)
    labels = torch.cat([books, books])
    n = len(z)
    self_mask = torch.eye(n, dtype=torch.bool, device=z.device)
    logits = (z @ z.T / temperature).masked_fill(self_mask, float("-inf"))
    log_prob = logits - torch.logsumexp(logits, dim=1, keepdim=True)
    positives = (labels.unsqueeze(0) == labels.unsqueeze(1)) & ~self_mask
    per_anchor = -(log_prob.masked_fill(~positives, 0.0)).sum(1) / positives.sum(1)
    return per_anchor.mean()
