"""The page stream model: per-page image, text and scalar features, projected and fused or
interleaved, then a small transformer encoder over the book's page sequence (CoSMo's design)
and a linear classifier per page."""

from __future__ import annotations

import torch
from torch import nn

from comix_resources.page_stream.config import PageStreamConfig


def squash(scalars: torch.Tensor) -> torch.Tensor:
    """Signed log1p: counts (panels, characters) and flags on comparable scales."""
    return torch.sign(scalars) * torch.log1p(scalars.abs())


class PageStreamModel(nn.Module):
    def __init__(self, config: PageStreamConfig) -> None:
        super().__init__()
        self.config = config
        h = config.hidden_dim

        def projection(dim: int) -> nn.Sequential:
            return nn.Sequential(
                nn.LayerNorm(dim), nn.Linear(dim, h), nn.GELU(), nn.Dropout(config.dropout)
            )

        self.vision = projection(config.vision_dim)
        self.text = projection(config.text_dim)
        self.scalar = nn.Sequential(nn.Linear(config.scalar_dim, h), nn.GELU())
        if config.fusion == "concat":
            self.fuse = nn.Sequential(nn.Linear(3 * h, h), nn.GELU(), nn.LayerNorm(h))
        else:
            self.modality = nn.Embedding(2, h)
        self.position = nn.Embedding(config.max_pages, h)
        layer = nn.TransformerEncoderLayer(
            h, config.num_heads, 2 * h, config.dropout, batch_first=True, norm_first=True
        )
        self.encoder = nn.TransformerEncoder(layer, config.num_layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(h)
        self.classifier = nn.Linear(h, len(config.classes))

    def forward(
        self,
        vision: torch.Tensor,
        text: torch.Tensor,
        scalars: torch.Tensor,
        mask: torch.Tensor,
        drop_vision: torch.Tensor | None = None,
        drop_text: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Logits (B, N, C) for pages (B, N) where ``mask`` is true; ``drop_*`` (B, N) zero a
        modality's token content for those pages (training's modality dropout)."""
        b, n = mask.shape
        v, t = self.vision(vision), self.text(text)
        if drop_vision is not None:
            v = v * (~drop_vision).unsqueeze(-1)
        if drop_text is not None:
            t = t * (~drop_text).unsqueeze(-1)
        s = self.scalar(squash(scalars))
        positions = torch.arange(n, device=mask.device).clamp(max=self.config.max_pages - 1)
        pos = self.position(positions).unsqueeze(0)
        if self.config.fusion == "concat":
            tokens = self.fuse(torch.cat([v, t, s], -1)) + pos
            out = self.encoder(tokens, src_key_padding_mask=~mask)
        else:
            # Image and text tokens of a page side by side: page i is tokens 2i and 2i+1.
            v = v + s + pos + self.modality.weight[0]
            t = t + s + pos + self.modality.weight[1]
            tokens = torch.stack([v, t], 2).reshape(b, 2 * n, -1)
            token_mask = mask.repeat_interleave(2, 1)
            out = self.encoder(tokens, src_key_padding_mask=~token_mask)
            out = out.reshape(b, n, 2, -1).mean(2)
        return self.classifier(self.norm(out))
