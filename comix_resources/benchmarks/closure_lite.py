"""Benchmark on the demo library: encoding, training and embedding speed, and the four
variants' validation metrics.

    python -m comix_resources.benchmarks.closure_lite WORK_DIR [--epochs N] [--threads 2]
        [--variants base,context] [--finetune-vision] [--device cuda]

``--finetune-vision`` trains the vision encoder on panel crops too (the GPU path; on 2 CPU
cores expect minutes per epoch), evaluates on its features and times embedding from the crops
through the fine-tuned encoder.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from comix_resources.closure_lite.config import VARIANTS, ClosureLiteConfig


def run_training_benchmark(
    work_dir: Path,
    seed: int = 7,
    variants: Sequence[str] = VARIANTS,
    max_epochs: int = 60,
    threads: int = 2,
    finetune_vision: bool = False,
    device: str = "cpu",
) -> dict[str, Any]:
    """Encode the demo library's pages (cached under ``work_dir``), train and evaluate each
    variant, and print seconds per epoch, pages/s and metrics; returns the same figures."""
    import torch

    from comix_resources.closure_lite.encoding import PanelCrops, encode_pages
    from comix_resources.closure_lite.evaluate import passes_gate
    from comix_resources.closure_lite.inference import embed_pages
    from comix_resources.closure_lite.train import train, with_model_vision
    from comix_resources.demo import generate_demo_library
    from comix_resources.demo.training_table import demo_training_pages, file_image_loader
    from comix_resources.encoders import FeatureCache, TextEncoder, VisionEncoder

    torch.set_num_threads(threads)
    work_dir = Path(work_dir)
    library, images = work_dir / "library", work_dir / "images"
    if not library.exists():
        generate_demo_library(library, seed)
    table = demo_training_pages(library, images)
    report: dict[str, Any] = {"pages": table.height, "books": table["book"].n_unique()}

    started = time.perf_counter()
    text_encoder, vision_encoder = TextEncoder(), VisionEncoder()
    report["encoder_load_seconds"] = time.perf_counter() - started
    cache = FeatureCache(work_dir / "features.sqlite")
    started = time.perf_counter()
    features = encode_pages(table, file_image_loader(images), text_encoder, vision_encoder, cache)
    seconds = time.perf_counter() - started
    report["encode_pages_per_second"] = table.height / seconds
    report["panels"] = int(features.mask.sum())
    print(f"encoded {table.height} pages ({report['panels']} panels) in {seconds:.1f} s")

    crops = PanelCrops(table, file_image_loader(images)) if finetune_vision else None
    report["finetune_vision"] = finetune_vision
    report["variants"] = {}
    for variant in variants:
        config = ClosureLiteConfig(
            variant=variant, max_epochs=max_epochs, finetune_vision=finetune_vision
        )
        result = train(features, config, seed=seed, crops=crops, device=device)
        model = result.model()
        _, metrics = result.evaluate(model, features, crops, device, seed)
        passed, reasons = passes_gate(metrics)
        started = time.perf_counter()
        # A fine-tuned model embeds through its own vision encoder: crops in, not cached features.
        if crops is not None:
            embed_pages(model, with_model_vision(model, features, crops, device=device))
        else:
            embed_pages(model, features)
        embed_rate = len(features) / (time.perf_counter() - started)
        report["variants"][variant] = {
            "seconds_per_epoch": result.seconds_per_epoch,
            "epochs": len(result.history),
            "best_epoch": result.best_epoch,
            "embed_pages_per_second": embed_rate,
            "metrics": metrics,
            "passes_gate": passed,
            "reasons": reasons,
        }
        print(
            f"{variant}: {result.seconds_per_epoch:.2f} s/epoch, {len(result.history)} epochs "
            f"(best {result.best_epoch}), embed {embed_rate:.0f} pages/s, "
            f"next {metrics['next_panel_accuracy']:.3f} (baseline "
            f"{metrics['next_panel_baseline']:.3f}, chance {metrics['next_panel_chance']:.3f}), "
            f"closure {metrics['closure_accuracy']:.3f} (frozen encoders "
            f"{metrics['closure_baseline']:.3f}), recall@10 "
            f"{metrics['retrieval_recall_at_10']:.3f} (chance {metrics['retrieval_chance']:.3f}, "
            f"frozen encoders {metrics['retrieval_baseline']:.3f}), "
            f"gate {'pass' if passed else 'FAIL: ' + '; '.join(reasons)}"
        )
    return report


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("work_dir", type=Path)
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--finetune-vision", action="store_true")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    report = run_training_benchmark(
        args.work_dir,
        args.seed,
        variants=[v.strip() for v in args.variants.split(",") if v.strip()],
        max_epochs=args.epochs,
        threads=args.threads,
        finetune_vision=args.finetune_vision,
        device=args.device,
    )
    print(json.dumps(report, indent=2, default=float))


if __name__ == "__main__":
    main()
