"""``python -m comix_resources.benchmarks accuracy|kumiko|speed [--json FILE] ...``.

Prints ``format_report`` of the result; ``--json`` also writes the full result (failure lists
included) for analysis.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from comix_resources.benchmarks.accuracy import (
    DEFAULT_KUMIKO_FIXTURES,
    run_accuracy_benchmark,
    run_kumiko_benchmark,
)
from comix_resources.benchmarks.report import format_report
from comix_resources.benchmarks.speed import run_speed_benchmark


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m comix_resources.benchmarks")
    parser.add_argument("benchmark", choices=["accuracy", "kumiko", "speed"])
    parser.add_argument("--library", type=Path, help="a demo library (default: generate one)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--no-ocr", action="store_true", help="accuracy: truth text boxes instead of OCR"
    )
    parser.add_argument("--fixtures", type=Path, default=DEFAULT_KUMIKO_FIXTURES)
    parser.add_argument("--pages", type=int, default=12, help="speed: demo pages to time")
    parser.add_argument("--no-fasterrcnn", action="store_true", help="speed: skip Faster R-CNN")
    parser.add_argument("--json", type=Path, help="also write the full result here")
    args = parser.parse_args(argv)
    if args.benchmark == "accuracy":
        result = run_accuracy_benchmark(args.library, seed=args.seed, ocr=not args.no_ocr)
    elif args.benchmark == "kumiko":
        result = run_kumiko_benchmark(args.fixtures)
    else:
        result = run_speed_benchmark(
            args.library, seed=args.seed, pages=args.pages, fasterrcnn=not args.no_fasterrcnn
        )
    print(format_report(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1, default=str) + "\n", encoding="utf-8")
    return result


if __name__ == "__main__":
    main()
