"""Training the learned detector on a folder of generated pages (``demo.detector_pages``).

The folder holds JPEG pages and ``annotations.json`` in COCO form with CoMix category ids.
Training is plain torch: AdamW with a short warm-up and cosine decay, batches of a few pages,
random horizontal flips and a random training scale (the model's ``min_size`` picked per
batch); it stops after ``steps`` batches or ``max_seconds``, whichever comes first (the learning
rate decays over whichever runs out first), so a CPU-sized test run and a long run on a shared
machine share the code. Every ``log_every`` steps the mean losses
go to ``on_log`` (MLflow in the registry).
"""

from __future__ import annotations

import json
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from comix_resources.detection.base import CATEGORY_IDS
from comix_resources.detection.files import load_image
from comix_resources.detection.learned import (
    LABELS,
    LearnedConfig,
    LearnedDetector,
    build_learned_model,
    page_tensor,
)

# COCO category id -> model label.
_LABEL_OF_CATEGORY = {CATEGORY_IDS[name]: i for i, name in enumerate(LABELS) if name}


@dataclass(frozen=True)
class TrainConfig:
    steps: int = 4000
    max_seconds: float = float("inf")
    batch_size: int = 2
    learning_rate: float = 4e-4
    weight_decay: float = 1e-4
    warmup_steps: int = 100
    train_min_sizes: tuple[int, ...] = (384, 416, 448, 480, 512)
    threads: int = 1
    seed: int = 7
    log_every: int = 50


@dataclass
class TrainResult:
    detector: LearnedDetector
    steps: int
    seconds: float
    pages: int
    history: list[dict[str, float]] = field(default_factory=list)


def read_training_set(folder: Path) -> list[tuple[Path, list[list[float]], list[int]]]:
    """``(image path, [x0, y0, x1, y1] boxes, model labels)`` per page of a generated set."""
    folder = Path(folder)
    coco_file = folder / "annotations.json"
    if not coco_file.is_file():
        raise ValueError(f"{folder} holds no annotations.json (write one with demo.detector_pages)")
    coco = json.loads(coco_file.read_text(encoding="utf-8"))
    boxes: dict[int, list[list[float]]] = {image["id"]: [] for image in coco["images"]}
    labels: dict[int, list[int]] = {image["id"]: [] for image in coco["images"]}
    for a in coco["annotations"]:
        label = _LABEL_OF_CATEGORY.get(a["category_id"])
        x, y, w, h = a["bbox"]
        if label is None or w < 2 or h < 2:
            continue
        boxes[a["image_id"]].append([x, y, x + w, y + h])
        labels[a["image_id"]].append(label)
    return [
        (folder / image["file_name"], boxes[image["id"]], labels[image["id"]])
        for image in coco["images"]
    ]


def _sample(path: Path, boxes: list[list[float]], labels: list[int], flip: bool) -> tuple:
    import torch

    pixels = load_image(path)
    width = pixels.shape[1]
    tensor = page_tensor(pixels)
    target = torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4)
    if flip:
        tensor = tensor.flip(-1)
        target = target[:, [2, 1, 0, 3]] * torch.tensor([-1, 1, -1, 1]) + torch.tensor(
            [width, 0, width, 0]
        )
    return tensor, {"boxes": target, "labels": torch.tensor(labels, dtype=torch.int64)}


def train_detector(
    folder: Path,
    config: TrainConfig | None = None,
    model_config: LearnedConfig | None = None,
    on_log: Callable[[int, dict[str, float]], None] | None = None,
) -> TrainResult:
    """Train a learned detector on the generated pages in ``folder``."""
    import torch

    config = config or TrainConfig()
    model_config = model_config or LearnedConfig()
    torch.set_num_threads(config.threads)
    torch.manual_seed(config.seed)
    rng = random.Random(config.seed)
    pages = read_training_set(folder)
    if not pages:
        raise ValueError(f"{folder} has no training pages")
    model = build_learned_model(model_config, pretrained=True)
    model.train()
    parameters = [p for p in model.parameters() if p.requires_grad]
    optimiser = torch.optim.AdamW(
        parameters, lr=config.learning_rate, weight_decay=config.weight_decay
    )

    def rate(step: int) -> float:
        # Progress is whichever budget runs out first, so a run cut short by its time
        # still ends at a low learning rate.
        if step < config.warmup_steps:
            return (step + 1) / config.warmup_steps
        done = max(step / config.steps, (time.perf_counter() - started) / config.max_seconds)
        return 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(1.0, done)))

    started = time.perf_counter()
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimiser, rate)
    order: list[int] = []
    history: list[dict[str, float]] = []
    running: dict[str, list[float]] = {}
    step = 0
    while step < config.steps and time.perf_counter() - started < config.max_seconds:
        if len(order) < config.batch_size:
            order += rng.sample(range(len(pages)), len(pages))
        batch = [order.pop() for _ in range(config.batch_size)]
        images, targets = zip(
            *(_sample(*pages[i], flip=rng.random() < 0.5) for i in batch), strict=True
        )
        model.transform.min_size = (rng.choice(config.train_min_sizes),)
        losses = model(list(images), list(targets))
        loss = sum(losses.values())
        optimiser.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(parameters, 10.0)
        optimiser.step()
        scheduler.step()
        for name, value in losses.items():
            running.setdefault(name, []).append(value.item())
        running.setdefault("loss", []).append(loss.item())
        step += 1
        if step % config.log_every == 0:
            entry = {name: float(np.mean(values)) for name, values in running.items()}
            entry["seconds"] = time.perf_counter() - started
            history.append(entry)
            running = {}
            if on_log is not None:
                on_log(step, entry)
    model.transform.min_size = (model_config.min_size,)
    model.eval()
    return TrainResult(
        detector=LearnedDetector(model, model_config),
        steps=step,
        seconds=time.perf_counter() - started,
        pages=len(pages),
        history=history,
    )
