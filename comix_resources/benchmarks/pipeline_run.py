"""One side of ``comix bench pipeline``: the per-page stages over a prepared lake, timed.

Run as a script (``python pipeline_run.py LAKE OUT --mode before|after [--workers N]``) with
either code tree first on ``PYTHONPATH``: the code being measured, or the base commit's. It
calls the functions the annotation assets call, in their order (panels, page_text,
page_quality, dataspec), so it measures what a materialization costs, and only functions
that both trees have. Each stage's CPU seconds include its worker processes. The tables go
to OUT as parquet for the caller to score; timings go to ``OUT/timings.json``.
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from pathlib import Path

SOURCE, COLLECTION = "bench", "pages"


def _cpu() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)  # workers, once joined
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("lake", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--mode", choices=["before", "after"], required=True)
    parser.add_argument("--workers", type=int, default=0)
    args = parser.parse_args(argv)

    from comix_resources.dataspec import coco_to_dataspec
    from comix_resources.detection import ContourDetector
    from comix_resources.detection.table import detect_pages
    from comix_resources.lake import Lake
    from comix_resources.quality.table import page_quality_table
    from comix_resources.text import OcrEngine, TextCascade
    from comix_resources.text.table import extract_page_text

    lake = Lake(str(args.lake))
    pages = lake.read_parquet(lake.partition_path(SOURCE, COLLECTION, "pages.parquet"))
    workers = args.workers or None
    timings: dict[str, dict[str, float]] = {}
    extra: dict[str, object] = {}

    def stage(name: str, fn):
        wall, cpu = time.perf_counter(), _cpu()
        value = fn()
        timings[name] = {"wall_s": time.perf_counter() - wall, "cpu_s": _cpu() - cpu}
        return value

    # model loading is part of a materialization's cost too, but not of a page's: load it
    # once before the clock (the workers of "after" load their own copy, inside it)
    detector, engine = ContourDetector(), OcrEngine()
    engine.read_lines(__import__("numpy").full((64, 64, 3), 255, "uint8"))
    if args.mode == "before":
        panels, _, _ = stage("panels", lambda: detect_pages(lake, pages, detector))
        text, summary = stage(
            "page_text",
            lambda: extract_page_text(lake, pages, TextCascade([engine]), None),
        )
    else:
        panels, _, _ = stage("panels", lambda: detect_pages(lake, pages, detector, workers=workers))
        text, summary = stage(
            "page_text",
            lambda: extract_page_text(
                lake, pages, TextCascade([engine]), None, panels=panels, workers=workers
            ),
        )
        extra = {k: summary[k] for k in ("triage", "skipped", "workers") if k in summary}
    quality = stage("page_quality", lambda: page_quality_table(lake, pages, panels, text))
    dataspec = stage("dataspec", lambda: coco_to_dataspec(pages, panels, text, SOURCE, COLLECTION))
    args.out.mkdir(parents=True, exist_ok=True)
    panels.write_parquet(args.out / "panels.parquet")
    text.write_parquet(args.out / "page_text.parquet")
    quality.write_parquet(args.out / "page_quality.parquet")
    dataspec.write_parquet(args.out / "dataspec.parquet")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    report = {"stages": timings, "pages": pages.height, "peak_rss_mb_main": peak, **extra}
    (args.out / "timings.json").write_text(json.dumps(report, default=str), encoding="utf-8")


if __name__ == "__main__":
    main()
