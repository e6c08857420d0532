"""A local VLM (Gemma 3, Qwen2.5-VL, SmolVLM, ...) through transformers, as a text engine.

``AutoModelForImageTextToText`` + ``AutoProcessor`` cover every image-text-to-text model
with a chat template, so the model is a hub id or a local folder and nothing else changes.
The model loads on the first page (not at construction: building a cascade must stay cheap)
and generation is serialised, since one model already keeps the CPU or GPU busy.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from comix_resources.text.base import EngineAnswer, EngineConfigError, EngineError
from comix_resources.text.schema import VLM_PROMPT, parse_vlm_json, vlm_items


class TransformersEngine:
    """Greedy decoding of the VLM prompt; ``max_time_s`` bounds a page like a timeout would
    (the answer is cut and then fails as truncated JSON)."""

    name = "transformers"
    remote = False
    costly = True  # seconds per page on a CPU: the triage spares it non-comic pages
    max_retries = 0  # a local model does not rate-limit; a retry would give the same answer
    base_delay_s = 0.0

    def __init__(
        self,
        model_id_or_path: str | Path,
        max_new_tokens: int = 2048,
        device: str = "cpu",
        *,
        dtype: str = "auto",
        max_image_side: int | None = 1024,
        max_time_s: float | None = None,
        local_files_only: bool = False,
        prompt: str = VLM_PROMPT,
    ) -> None:
        self.model_id_or_path = str(model_id_or_path)
        self.model = self.model_id_or_path
        self.max_new_tokens = max_new_tokens
        self.device = device
        self.dtype = dtype
        self.max_image_side = max_image_side
        self.max_time_s = max_time_s
        self.local_files_only = local_files_only
        self.prompt = prompt
        self._processor: Any = None
        self._model: Any = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"TransformersEngine({self.model_id_or_path!r}, device={self.device!r})"

    def _load(self) -> None:
        from transformers import AutoModelForImageTextToText, AutoProcessor

        try:
            self._processor = AutoProcessor.from_pretrained(
                self.model_id_or_path, local_files_only=self.local_files_only
            )
            model = AutoModelForImageTextToText.from_pretrained(
                self.model_id_or_path, dtype=self.dtype, local_files_only=self.local_files_only
            )
        except (OSError, ValueError) as exc:  # missing files, unknown architecture, no network
            raise EngineConfigError(f"cannot load {self.model_id_or_path}: {exc}") from exc
        self._model = model.to(self.device).eval()

    def extract(self, image_bytes: bytes, width: int, height: int) -> EngineAnswer:
        import torch

        from comix_resources.images import open_page

        image = open_page(image_bytes)
        if self.max_image_side is not None:
            # box_2d is relative to the page, so a smaller copy changes no coordinate
            image.thumbnail((self.max_image_side, self.max_image_side))
        content = [{"type": "image", "image": image}, {"type": "text", "text": self.prompt}]
        messages = [{"role": "user", "content": content}]
        with self._lock:
            if self._model is None:
                self._load()
            inputs = self._processor.apply_chat_template(
                messages,
                add_generation_prompt=True,
                tokenize=True,
                return_dict=True,
                return_tensors="pt",
            ).to(self.device)
            with torch.inference_mode():
                output = self._model.generate(
                    **inputs,
                    max_new_tokens=self.max_new_tokens,
                    do_sample=False,
                    max_time=self.max_time_s,
                )
        prompt_tokens = int(inputs["input_ids"].shape[1])
        new_tokens = output[0, prompt_tokens:]
        text = self._processor.decode(new_tokens, skip_special_tokens=True)
        try:
            vlm = parse_vlm_json(text)
        except EngineError as exc:
            exc.prompt_tokens, exc.completion_tokens = prompt_tokens, int(new_tokens.shape[0])
            raise
        return EngineAnswer(
            items=vlm_items(vlm, width, height),
            vlm=vlm,
            prompt_tokens=prompt_tokens,
            completion_tokens=int(new_tokens.shape[0]),
        )
