"""Benchmark on demo libraries: rule-based vs trained model on held-out books, training
seconds per epoch, and pages per second.

    python -m comix_resources.benchmarks.page_stream WORK_DIR [--seeds 7 8 9 10] [--threads 1]

Every seed gives a library of the same 19 titles with other art and text; books are split by
title (``group``), so no held-out title is seen in training under any seed. Besides the truth,
the held-out books that carry ComicInfo page types (the demo's CBZ, CB7 and CBT books) are
scored against them (``metrics.comicinfo_agreement``: first-page and story count as one).
Two conditions: ``clean`` reads the demo truth's panel counts and texts (what a perfect
detector and OCR would give), ``noisy`` perturbs them as a real detector and OCR do (a panel
missed or split on 30 % of pages, the text of 20 % of pages lost, an OCR box lost or split on
30 %); the model is trained and evaluated in each. Ratios are against the rules in the same
run.
"""

from __future__ import annotations

import argparse
import copy
import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from comix_resources.page_stream.features import SCALAR_INDEX, BookFeatures

NOISE = {"panel": 0.3, "text_drop": 0.2, "boxes": 0.3}


def perturb(books: Sequence[BookFeatures], seed: int) -> list[BookFeatures]:
    """Copies of ``books`` with detector and OCR errors (``NOISE``) in the panel counts, the
    text (its scalars and its vector) and the text box counts."""
    rng = np.random.default_rng(seed)
    out = []
    for book in books:
        b = copy.deepcopy(book)
        n = len(b)
        panels = b.scalars[:, SCALAR_INDEX["panel_count"]]
        change = rng.random(n) < NOISE["panel"]
        panels[change] = np.maximum(0, panels[change] + rng.choice([-1, 1], change.sum()))
        boxes = b.scalars[:, SCALAR_INDEX["text_box_count"]]
        change = rng.random(n) < NOISE["boxes"]
        boxes[change] = np.maximum(0, boxes[change] + rng.choice([-1, 1], change.sum()))
        lost = rng.random(n) < NOISE["text_drop"]
        for name in ("text_chars", "text_box_count", "text_area_fraction"):
            b.scalars[lost, SCALAR_INDEX[name]] = 0
        if b.text is not None:
            b.text[lost] = 0
        out.append(b)
    return out


def _evaluate(
    predictor: Any,
    books: Sequence[BookFeatures],
    comicinfo: dict[str, list[str | None]] | None = None,
) -> tuple[dict[str, Any], float]:
    from comix_resources.page_stream.inference import predict_books
    from comix_resources.page_stream.metrics import comicinfo_agreement, evaluate_books

    started = time.perf_counter()
    predictions = predict_books(predictor, books)
    rate = sum(len(b) for b in books) / (time.perf_counter() - started)
    metrics = evaluate_books(
        [(b.labels, p.labels) for b, p in zip(books, predictions, strict=True)]
    )
    comicinfo = comicinfo or {}
    metrics["vs_comicinfo"] = comicinfo_agreement(
        [
            (p.page_indices, p.labels, comicinfo[p.book_id])
            for p in predictions
            if p.book_id in comicinfo
        ]
    )
    return metrics, rate


def demo_comicinfo_labels(library: Path) -> dict[str, list[str | None]]:
    """``book_id`` -> labels from the ComicInfo page types of every demo book that has them,
    read from the book files as the books step reads them."""
    from comix_resources.demo import demo_book_id, demo_truth_books
    from comix_resources.page_stream.labels import comicinfo_labels
    from comix_resources.sources import BookFile, comic_format, read_comic_metadata

    out = {}
    for path, truth in demo_truth_books(library):
        fmt = comic_format(path)
        if fmt is None or not path.is_file():
            continue
        found = read_comic_metadata(BookFile(path, path.name, fmt, path.stat().st_size, 0))
        declared = [{"page_index": p.index, "type": p.type} for p in found.pages]
        labels = comicinfo_labels(declared)
        if any(label is not None for label in labels):
            out[demo_book_id(path, truth)] = labels
    return out


def _summary(metrics: dict[str, Any]) -> str:
    return (
        f"macro-F1 {metrics['macro_f1']:.3f}, accuracy {metrics['accuracy']:.3f}, "
        f"PQ {metrics['pq']:.3f} (SQ {metrics['sq']:.3f}, RQ {metrics['rq']:.3f}), "
        f"MnDD {metrics['mndd']:.2f} pages ({metrics['mndd_normalised']:.3f} normalised)"
    )


def run_benchmark(
    work_dir: Path,
    seeds: Sequence[int] = (7, 8, 9, 10),
    threads: int = 1,
    test_fraction: float = 0.3,
    max_epochs: int = 80,
    sample_pages: int = 32,
) -> dict[str, Any]:
    """Generate (or reuse) the libraries, encode pages (cached), train and evaluate; prints
    the figures and returns them."""
    import torch

    from comix_resources.demo import generate_demo_library
    from comix_resources.demo.page_stream_rows import bytes_image_loader, demo_page_rows
    from comix_resources.encoders import FeatureCache, TextEncoder, VisionEncoder
    from comix_resources.page_stream.config import PageStreamConfig
    from comix_resources.page_stream.features import encode_books
    from comix_resources.page_stream.inference import PageStreamPredictor
    from comix_resources.page_stream.rules import RulePredictor
    from comix_resources.page_stream.train import split_books, train

    torch.set_num_threads(threads)
    work_dir = Path(work_dir)
    rows: list[dict[str, Any]] = []
    comicinfo: dict[str, list[str | None]] = {}
    started = time.perf_counter()
    for seed in seeds:
        library = work_dir / f"library-{seed}"
        if not (library / "demo_summary.json").exists():
            generate_demo_library(library, seed)
        rows += demo_page_rows(library)
        comicinfo.update(demo_comicinfo_labels(library))
    report: dict[str, Any] = {"seeds": list(seeds), "pages": len(rows)}
    print(
        f"{len(rows)} labelled pages from {len(seeds)} demo libraries in "
        f"{time.perf_counter() - started:.1f} s"
    )

    started = time.perf_counter()
    vision_encoder, text_encoder = VisionEncoder(), TextEncoder()
    report["encoder_load_seconds"] = time.perf_counter() - started
    # Speed without the cache, on a sample: the cached run below may encode nothing.
    sample = rows[:sample_pages]
    started = time.perf_counter()
    encode_books(sample, bytes_image_loader(sample), vision_encoder, text_encoder, None)
    report["encode_pages_per_second"] = len(sample) / (time.perf_counter() - started)
    print(
        f"encoders (EfficientNet-Lite0 page image + MiniLM text), uncached: "
        f"{report['encode_pages_per_second']:.1f} pages/s on {len(sample)} pages"
    )
    cache = FeatureCache(work_dir / "features.sqlite")
    started = time.perf_counter()
    books = encode_books(rows, bytes_image_loader(rows), vision_encoder, text_encoder, cache)
    seconds = time.perf_counter() - started
    print(f"encoded {len(rows)} pages (cached under {work_dir}) in {seconds:.1f} s")

    rest_index, test_index = split_books(books, test_fraction, seed=0)
    rest = [books[i] for i in rest_index]
    test = [books[i] for i in test_index]
    report["test_titles"] = sorted({b.group or "" for b in test})
    report["train_books"], report["test_books"] = len(rest), len(test)
    report["test_pages"] = sum(len(b) for b in test)
    print(
        f"split by title: {len(rest)} books for training/validation, {len(test)} held out "
        f"({report['test_pages']} pages; titles {', '.join(report['test_titles'])})"
    )

    report["conditions"] = {}
    for condition in ("clean", "noisy"):
        train_books, test_books = rest, test
        if condition == "noisy":
            train_books, test_books = perturb(rest, seed=1), perturb(test, seed=2)
        rules_metrics, rules_rate = _evaluate(RulePredictor(), test_books, comicinfo)
        started = time.perf_counter()
        result = train(train_books, PageStreamConfig(max_epochs=max_epochs), seed=0)
        train_seconds = time.perf_counter() - started
        predictor = PageStreamPredictor(result.model())
        model_metrics, model_rate = _evaluate(predictor, test_books, comicinfo)
        # End to end for a page the cache has not seen: encoders, then the model.
        end_to_end = 1 / (1 / report["encode_pages_per_second"] + 1 / model_rate)
        figures = {
            "rules": rules_metrics,
            "model": model_metrics,
            "rules_pages_per_second": rules_rate,
            "model_pages_per_second": model_rate,
            "model_end_to_end_pages_per_second": end_to_end,
            "seconds_per_epoch": result.seconds_per_epoch,
            "epochs": len(result.history),
            "best_epoch": result.best_epoch,
            "train_seconds": train_seconds,
            "macro_f1_ratio_model_vs_rules": model_metrics["macro_f1"]
            / max(rules_metrics["macro_f1"], 1e-9),
            "pq_ratio_model_vs_rules": model_metrics["pq"] / max(rules_metrics["pq"], 1e-9),
        }
        report["conditions"][condition] = figures
        print(f"[{condition}] rules: {_summary(rules_metrics)}; {rules_rate:.0f} pages/s")
        print(
            f"[{condition}] model: {_summary(model_metrics)}; {model_rate:.0f} pages/s "
            f"(with encoders {end_to_end:.1f} pages/s)"
        )
        print(
            f"[{condition}] training: {result.seconds_per_epoch:.3f} s/epoch, "
            f"{len(result.history)} epochs (best {result.best_epoch}), {train_seconds:.1f} s; "
            f"model/rules macro-F1 {figures['macro_f1_ratio_model_vs_rules']:.3f}, "
            f"PQ {figures['pq_ratio_model_vs_rules']:.3f}"
        )
        per_class = {
            c: (
                round(rules_metrics["per_class"][c]["f1"], 3),
                round(model_metrics["per_class"][c]["f1"], 3),
            )
            for c in rules_metrics["per_class"]
            if rules_metrics["per_class"][c]["support"]
        }
        print(f"[{condition}] per-class F1 (rules, model): {per_class}")
        for name, scored in (("rules", rules_metrics), ("model", model_metrics)):
            versus = scored["vs_comicinfo"]
            if versus:
                print(
                    f"[{condition}] {name} vs ComicInfo page types: accuracy "
                    f"{versus['accuracy']:.3f} on {versus['pages']} pages of "
                    f"{versus['books']} held-out books"
                )
    return report


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("work_dir", type=Path)
    parser.add_argument("--seeds", type=int, nargs="+", default=[7, 8, 9, 10])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--epochs", type=int, default=80)
    args = parser.parse_args(argv)
    report = run_benchmark(args.work_dir, args.seeds, args.threads, max_epochs=args.epochs)
    print(json.dumps(report, indent=2, default=float))


if __name__ == "__main__":
    main()
