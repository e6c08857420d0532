"""The transformers engine with a tiny, randomly initialised Qwen2-VL saved by the test.

Nothing is downloaded: the tokenizer is a character-level WordLevel model built with
``tokenizers``, the processor and the model come from their configs. What the model says
is noise, so the point is the path: load from a folder, apply the chat template with the
page image, generate, decode, and fail as json_error/empty/schema_error into the fallback.
"""

from __future__ import annotations

import string
from pathlib import Path

import pytest

from comix_resources.text import TextCascade, TransformersEngine
from tests.text.conftest import StubEngine, page

pytestmark = pytest.mark.slow  # importing transformers and torch takes seconds

SPECIAL = [
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|image_pad|>",
    "<|video_pad|>",
]
CHAT_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n"
    "{% if m['content'] is string %}{{ m['content'] }}{% else %}{% for c in m['content'] %}"
    "{% if c['type'] == 'image' %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% else %}{{ c['text'] }}{% endif %}{% endfor %}{% endif %}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


@pytest.fixture(scope="module")
def tiny_vlm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import (
        PreTrainedTokenizerFast,
        Qwen2VLConfig,
        Qwen2VLForConditionalGeneration,
        Qwen2VLImageProcessor,
        Qwen2VLProcessor,
        Qwen2VLVideoProcessor,
    )

    vocab = {tok: i for i, tok in enumerate(SPECIAL + list(string.printable))}
    backend = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<|endoftext|>"))
    backend.pre_tokenizer = pre_tokenizers.Split("", behavior="isolated")  # one token a char
    backend.decoder = decoders.Fuse()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        additional_special_tokens=SPECIAL[1:],
    )
    # few pixels -> few image tokens: the page becomes a 2x2 grid of merged patches
    image_processor = Qwen2VLImageProcessor(min_pixels=28 * 28, max_pixels=28 * 28 * 4)
    processor = Qwen2VLProcessor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        video_processor=Qwen2VLVideoProcessor(),
        chat_template=CHAT_TEMPLATE,
    )
    ids = {
        name: vocab[f"<|{name}|>"]
        for name in ("image_pad", "video_pad", "vision_start", "vision_end", "im_end", "endoftext")
    }
    config = Qwen2VLConfig(
        text_config={
            "vocab_size": len(vocab),
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 1,
            "num_attention_heads": 2,
            "num_key_value_heads": 1,
            "max_position_embeddings": 4096,
            "rope_scaling": {"type": "mrope", "mrope_section": [2, 3, 3]},
            "bos_token_id": ids["endoftext"],
            "eos_token_id": ids["im_end"],
            "pad_token_id": ids["endoftext"],
        },
        vision_config={
            "depth": 1,
            "embed_dim": 32,
            "hidden_size": 32,
            "num_heads": 2,
            "mlp_ratio": 2,
            "patch_size": 14,
            "spatial_merge_size": 2,
            "temporal_patch_size": 2,
        },
        image_token_id=ids["image_pad"],
        video_token_id=ids["video_pad"],
        vision_start_token_id=ids["vision_start"],
        vision_end_token_id=ids["vision_end"],
    )
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("tiny-qwen2-vl")
    Qwen2VLForConditionalGeneration(config).save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder


def test_tiny_model_loads_generates_and_falls_through(tiny_vlm: Path) -> None:
    engine = TransformersEngine(tiny_vlm, max_new_tokens=24, local_files_only=True)
    result = TextCascade([engine, StubEngine()]).extract_pages([page("p", (200, 180, 90))])[0]
    assert (result.status, result.engine, result.attempts) == ("ok", "stub", 2)
    first = result.trail[0]
    assert (first.engine, first.model) == ("transformers", str(tiny_vlm))
    assert first.outcome in ("json_error", "empty", "schema_error"), first.detail
    # the prompt (chat template + image tokens) went in and something came out
    assert first.prompt_tokens > len("You read one comic page")
    assert first.outcome == "empty" or 0 < first.completion_tokens <= 24
    assert result.cost_usd == 0  # local models cost nothing


def test_missing_model_is_a_config_error(tmp_path: Path) -> None:
    engine = TransformersEngine(tmp_path / "nothing-here", local_files_only=True)
    result = TextCascade([engine, StubEngine()]).extract_pages([page("p", (1, 2, 3))])[0]
    assert result.engine == "stub"
    assert result.error_kinds == ("transformers:config_error",)
