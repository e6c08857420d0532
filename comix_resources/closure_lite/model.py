"""The Closure Lite network: gated fusion of panel modalities, page pooling, reading order.

Shapes: B pages, P panel slots (12), H hidden size (384). ``mask`` is (B, P) bool, True for
real panels; padded slots never reach a real panel's output (attention masks them as keys,
poolings weight them zero) and their own outputs are zeroed.
There is no slot-position input: the network is permutation-equivariant over panels, so the
reading order must come from the composition features (where the panel is), not from where
the table happened to list it.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from comix_resources.closure_lite.config import VARIANTS, ClosureLiteConfig

__all__ = ["VARIANTS", "ClosureLite", "PageOutput"]

_GEOMETRY = 6  # x, y, width, height, centre x, centre y: the first composition features
_PAIR_FEATURES = 3 * _GEOMETRY + 2  # both boxes, their difference, x and y overlaps
_NEG = -1e4  # logit for excluded candidates; finite so that all-masked rows give no NaN


@dataclass
class PageOutput:
    fused: torch.Tensor  # (B, P, H) per-panel fusion, before context: the panel's content
    panels: torch.Tensor  # (B, P, H) panel embeddings (contextual for context variants)
    page: torch.Tensor  # (B, H) page embeddings
    attention: torch.Tensor  # (B, P) pooling weights, 0 on padding


class ClosureLite(nn.Module):
    def __init__(self, config: ClosureLiteConfig) -> None:
        super().__init__()
        self.config = config
        h = config.hidden_dim
        self.vision_proj = nn.Sequential(
            nn.LayerNorm(config.vision_dim), nn.Linear(config.vision_dim, h)
        )
        self.text_proj = nn.Sequential(nn.LayerNorm(config.text_dim), nn.Linear(config.text_dim, h))
        self.composition_proj = nn.Sequential(
            nn.Linear(config.composition_dim, h), nn.GELU(), nn.Linear(h, h)
        )
        # Per-dimension softmax gate over the three modalities, conditioned on all three, so
        # a panel without text (zero text vector) can shift its weight to vision and layout.
        self.gate = nn.Linear(3 * h, 3 * h)
        self.fusion_norm = nn.LayerNorm(h)
        self.fusion_mlp = nn.Sequential(nn.Linear(h, 2 * h), nn.GELU(), nn.Linear(2 * h, h))
        self.mask_token = nn.Parameter(torch.zeros(h))
        if config.uses_context:
            layer = nn.TransformerEncoderLayer(
                h, config.num_heads, 2 * h, config.dropout, batch_first=True, norm_first=True
            )
            self.context = nn.TransformerEncoder(
                layer, config.context_layers, enable_nested_tensor=False
            )
        # Predicts a masked panel's content embedding from its context.
        self.predictor = nn.Sequential(nn.Linear(h, h), nn.GELU(), nn.Linear(h, h))
        self.pool_query = nn.Parameter(torch.randn(1, 1, h) * 0.02)
        self.pool = nn.MultiheadAttention(h, config.num_heads, batch_first=True)
        self.page_type = nn.Embedding(config.num_page_types, h, padding_idx=0)
        self.page_norm = nn.LayerNorm(h)
        # Reading order is mostly about where panel j lies relative to panel i: a small MLP
        # on the pair's geometry (both boxes, their difference and their overlaps) gives the
        # main score. A low-rank bilinear form of the two panel embeddings adds a content
        # term; a full (H x H) bilinear form memorised the training pages (train loss 0.3,
        # validation loss rising from epoch 2 on the demo library).
        r = config.pair_rank
        if r > 0:
            self.next_left = nn.Sequential(nn.Dropout(config.dropout), nn.Linear(h, r))
            self.next_right = nn.Sequential(nn.Dropout(config.dropout), nn.Linear(h, r))
        g = config.geometry_hidden
        self.pair_geometry = nn.Sequential(
            nn.Linear(_PAIR_FEATURES, g), nn.GELU(), nn.Linear(g, g), nn.GELU(), nn.Linear(g, 1)
        )
        self.start_geometry = nn.Sequential(nn.Linear(_GEOMETRY, g), nn.GELU(), nn.Linear(g, 1))
        self.start_head = nn.Linear(h, 1)
        if config.finetune_vision:
            from comix_resources.encoders.efficientnet_lite import EfficientNetLite0

            # Architecture only: training loads the pretrained weights, a saved model its own.
            self.vision_backbone = EfficientNetLite0()

    def encode_crops(self, pixels: torch.Tensor) -> torch.Tensor:
        """(M, Dv) features of panel crops (``PanelCrops.pixels``) by the fine-tuned vision
        encoder; what the frozen encoder's cached outputs are otherwise."""
        if not self.config.finetune_vision:
            raise RuntimeError("this model has no vision encoder of its own (finetune_vision)")
        return self.vision_backbone.features(pixels)

    def fuse(
        self,
        vision: torch.Tensor,
        text: torch.Tensor,
        composition: torch.Tensor,
        mask: torch.Tensor,
    ) -> torch.Tensor:
        parts = [self.vision_proj(vision), self.text_proj(text), self.composition_proj(composition)]
        stacked = torch.stack(parts, dim=2)  # (B, P, 3, H)
        logits = self.gate(torch.cat(parts, dim=-1)).view(*stacked.shape)
        fused = (logits.softmax(dim=2) * stacked).sum(dim=2)
        fused = self.fusion_norm(fused + self.fusion_mlp(fused))
        return fused * mask.unsqueeze(-1)

    def contextualise(self, fused: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        if not self.config.uses_context:
            return fused
        # A page without panels would be all-masked keys (NaN in attention): give it one key.
        safe = mask.clone()
        safe[~mask.any(1), 0] = True
        return self.context(fused, src_key_padding_mask=~safe) * mask.unsqueeze(-1)

    def content(self, vision: torch.Tensor, text: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """(B, H) mean of the panels' projected image and text: what the page shows,
        whatever its layout."""
        parts = self.vision_proj(vision) + self.text_proj(text)
        weights = mask.unsqueeze(-1).to(parts.dtype)
        return (parts * weights).sum(1) / weights.sum(1).clamp(min=1.0)

    def pool_page(
        self,
        panels: torch.Tensor,
        mask: torch.Tensor,
        page_type: torch.Tensor | None = None,
        content: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, H) page embedding and (B, P) pooling weights.

        Attention pooling alone let layout dominate the page vector (panel geometry is what
        the reading-order and masked-panel objectives reward), and same-book retrieval on
        held-out books fell below that of the raw encoder features; ``content``, the mean
        of the panels' projected image and text, is added so the page keeps what it shows.
        Both are layer-normalised before the sum: the context variants' transformer outputs
        are several times larger than ``content``, which then vanished from their page
        vector; their page objective stayed at chance (SupCon loss log(15) throughout) and
        so did held-out recall@10 (context-denoise 0.24 against chance 0.26 on the demo
        lake over three seeds; 0.43-0.47 with the normalisation).
        """
        safe = mask.clone()
        safe[~mask.any(1), 0] = True
        query = self.pool_query.expand(panels.shape[0], -1, -1)
        pooled, weights = self.pool(query, panels, panels, key_padding_mask=~safe)
        h = self.config.hidden_dim
        page = F.layer_norm(pooled.squeeze(1), (h,))
        if content is not None:
            page = page + F.layer_norm(content, (h,))
        if page_type is not None:
            page = page + self.page_type(page_type)
        return self.page_norm(page), weights.squeeze(1) * mask

    def forward(
        self,
        vision: torch.Tensor,
        text: torch.Tensor,
        composition: torch.Tensor,
        mask: torch.Tensor,
        page_type: torch.Tensor | None = None,
    ) -> PageOutput:
        fused = self.fuse(vision, text, composition, mask)
        panels = self.contextualise(fused, mask)
        page, attention = self.pool_page(panels, mask, page_type, self.content(vision, text, mask))
        return PageOutput(fused, panels, page, attention)

    def predict_masked(
        self,
        fused: torch.Tensor,
        mask: torch.Tensor,
        slot: torch.Tensor,
        composition: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """(B, H) prediction of the content of panel ``slot[b]`` of each page from the others.

        Context variants replace that panel by a mask token and read the transformer's
        output there; the others predict from the mean of the page's remaining panels. Like
        a masked autoencoder's position embedding, the mask token carries the masked panel's
        layout (its composition features, through ``composition_proj``): the prediction
        says what belongs in that box, not what the page's average panel looks like.
        """
        rows = torch.arange(fused.shape[0], device=fused.device)
        context_mask = mask.clone()
        context_mask[rows, slot] = False
        token = self.mask_token.expand(len(rows), -1)
        if composition is not None:
            token = token + self.composition_proj(composition[rows, slot])
        if self.config.uses_context:
            inputs = fused.clone()
            inputs[rows, slot] = token
            hidden = self.contextualise(inputs, mask)[rows, slot]
        else:
            weights = context_mask.unsqueeze(-1).to(fused.dtype)
            hidden = (fused * weights).sum(1) / weights.sum(1).clamp(min=1.0) + token
        return self.predictor(hidden)

    def next_scores(
        self, panels: torch.Tensor, composition: torch.Tensor, mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, P, P) scores of panel j following panel i, and (B, P) scores of starting at j.

        Padding and i == j get a large negative score.
        """
        p = panels.shape[1]
        geometry = composition[..., :_GEOMETRY]
        gi = geometry.unsqueeze(2).expand(-1, -1, p, -1)
        gj = geometry.unsqueeze(1).expand(-1, p, -1, -1)
        # Overlap of the two boxes' x (and y) extents, relative to the smaller extent:
        # positive when they share a column (row), negative by the gap between them.
        lo = torch.maximum(gi[..., :2], gj[..., :2])
        hi = torch.minimum(gi[..., :2] + gi[..., 2:4], gj[..., :2] + gj[..., 2:4])
        extent = torch.minimum(gi[..., 2:4], gj[..., 2:4]).clamp(min=1e-3)
        overlap = ((hi - lo) / extent).clamp(-2.0, 1.0)
        pair = torch.cat([gi, gj, gj - gi, overlap], dim=-1)
        scores = self.pair_geometry(pair).squeeze(-1)
        if self.config.pair_rank > 0:
            content = torch.einsum("bir,bjr->bij", self.next_left(panels), self.next_right(panels))
            scores = scores + content / self.config.pair_rank**0.5
        allowed = mask.unsqueeze(1) & mask.unsqueeze(2)
        allowed &= ~torch.eye(p, dtype=torch.bool, device=panels.device)
        start = (self.start_head(panels) + self.start_geometry(geometry)).squeeze(-1)
        start = start.masked_fill(~mask, _NEG)
        return scores.masked_fill(~allowed, _NEG), start

    def corrupt(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Denoise variants' input corruption: scaled Gaussian noise on one modality."""
        scale = x.detach().std(dim=-1, keepdim=True).clamp(min=1e-6)
        # Drawn on the generator's device (the CPU in training) and moved, so that a seeded
        # CPU generator serves a model on a GPU too.
        noise = torch.randn(x.shape, generator=generator, dtype=x.dtype).to(x.device)
        keep = (torch.rand(x.shape[:-1], generator=generator) >= self.config.modality_dropout).to(
            x.device
        )
        return (x + self.config.noise_std * scale * noise) * keep.unsqueeze(-1).to(x.dtype)


def decode_reading_order(
    next_scores: torch.Tensor, start_scores: torch.Tensor, mask: torch.Tensor
) -> torch.Tensor:
    """Greedy reading order: the best start, then the best unvisited successor; (B, P) slot
    indices in reading order, -1 after the page's last panel."""
    b, p = mask.shape
    result = torch.full((b, p), -1, dtype=torch.long)
    for i in range(b):
        n = int(mask[i].sum())
        if n == 0:
            continue
        visited = ~mask[i].clone()
        current = int(start_scores[i].masked_fill(visited, float("-inf")).argmax())
        for k in range(n):
            result[i, k] = current
            visited[current] = True
            if k + 1 < n:
                current = int(next_scores[i, current].masked_fill(visited, float("-inf")).argmax())
    return result
