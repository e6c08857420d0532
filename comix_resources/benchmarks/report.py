"""Plain-text rendering of the benchmark dicts: ``format_report(result) -> str``.

Plain text rather than rich tables so the same string reads well in a terminal, a log, a CI
artifact and a materialization's markdown block.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    cells = [[str(h) for h in headers], *[[_cell(v) for v in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(line.rstrip() for line in lines)


def _cell(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "NO"
    if isinstance(value, float):
        return f"{value:.3f}"
    return "-" if value is None else str(value)


def _load(timing: dict[str, Any]) -> str:
    before = ", ".join(f"{v:.2f}" for v in timing.get("load_before", ()))
    after = ", ".join(f"{v:.2f}" for v in timing.get("load_after", ()))
    return f"{timing.get('cpus')} CPUs, load average {before} before, {after} after"


def format_report(result: dict[str, Any]) -> str:
    """The report for any ``run_*_benchmark`` result, dispatched on ``result["benchmark"]``."""
    kind = result.get("benchmark")
    if kind == "accuracy":
        return _accuracy(result)
    if kind == "kumiko":
        return _kumiko(result)
    if kind == "speed":
        return _speed(result)
    if kind == "real-pages":
        return _real_pages(result)
    raise ValueError(f"not a benchmark result: benchmark={kind!r}")


def _accuracy(r: dict[str, Any]) -> str:
    where = f"seed {r['seed']}, generated" if r.get("seed") is not None else r.get("library")
    out = [
        f"Accuracy on the demo library ({where}): {r['books']} books, {r['pages']} pages",
        f"text source: {r['text_source']}",
        "",
        _table(
            ["figure", "value", "target", "met", "detail"],
            [(f["name"], f["value"], f["target"], f["met"], f["detail"]) for f in r["figures"]],
        ),
        "",
    ]
    by_type = r["panels"].get("by_page_type") or {}
    if by_type:
        out += [
            "panels by page type (comic pages with truth panels):",
            _table(
                ["page type", "precision", "recall", "F1", "matched", "predicted", "truth"],
                [
                    (t, m["precision"], m["recall"], m["f1"], m["tp"], m["predicted"], m["truth"])
                    for t, m in by_type.items()
                ],
            ),
            "",
        ]
    p = r["panelless_pages"]
    out.append(
        f"pages without truth panels (covers, credits, adverts, non-comic): {p['pages']}; "
        f"false panels there: {p['false_panels']} on {p['pages_with_false_panels']} pages "
        f"({p['whole_page_detections']} whole-page detections not counted)"
    )
    t = r["text"]
    out.append(
        f"text: {t['text_lines_recall']:.1%} of truth text lines read; "
        f"{t['unmatched_texts']} predicted items read no truth text; accuracy on aligned pages "
        f"{t['text_lines_accuracy_aligned']:.3f}"
    )
    a = r["alignment"]
    out.append(f"non-comic pages claiming alignment: {a['non_comic_aligned']}")
    if r.get("ocr_failed_pages"):
        out.append(f"OCR failed on {len(r['ocr_failed_pages'])} pages")
    timing = r["timing"]
    stages = ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in timing["per_page_s"].items())
    out += [
        f"time: {timing['wall_s']:.1f} s wall; per page {stages}; "
        f"pipeline {timing['pipeline_pages_per_s']:.2f} pages/s",
        f"machine: {_load(timing)}",
    ]
    failures = r["failures"]
    sections = {
        "panels": "comic pages with missed or extra panels",
        "false_panels": "panel-less pages with false panels",
        "order": "pages with the reading order wrong",
        "non_comic": "pages the quality classifier got wrong",
        "unaligned": "comic pages not aligned",
        "text": "pages with text lines in the wrong panel",
    }
    for key, title in sections.items():
        rows = failures.get(key) or []
        out += ["", f"{title}: {len(rows)}"]
        for row in rows[:25]:
            extra = {k: v for k, v in row.items() if k not in ("page", "page_id")}
            out.append(f"  {row['page']} [{row['page_id']}] {extra}")
        if len(rows) > 25:
            out.append(f"  ... {len(rows) - 25} more")
    return "\n".join(out)


def _kumiko(r: dict[str, Any]) -> str:
    rows = [
        (
            p["page"],
            p["truth"],
            p["predicted"],
            p["found"],
            p["min_iou"],
            p["order_ok"],
            p["kumiko_reference"],
        )
        for p in r["pages"]
    ]
    return "\n".join(
        [
            f"Contour detector on Kumiko's annotated pages ({r['fixtures']}), "
            f"found = truth panels matched at IoU >= {r['min_iou']}",
            "",
            _table(
                ["page", "truth", "predicted", "found", "min IoU", "order ok", "Kumiko found"],
                rows,
            ),
            "",
            f"every panel found and in order: {_cell(r['all_ok'])}",
        ]
    )


def _speed(r: dict[str, Any]) -> str:
    rows = [
        (
            m["name"],
            m["pages"],
            m["s_per_page"],
            m["pages_per_s"],
            m.get("threads"),
            m.get("ratio") or "",
            m.get("note") or "",
        )
        for m in r["measurements"]
    ]
    return "\n".join(
        [
            "Speed (pages per second; warm-up and model loading excluded unless noted)",
            "",
            _table(["what", "pages", "s/page", "pages/s", "threads", "vs baseline", "note"], rows),
            "",
            *[f"{k}: {v}" for k, v in r.get("setup_s", {}).items()],
            f"machine: {_load(r['timing'])}",
        ]
    )


def _real_pages(r: dict[str, Any]) -> str:
    def rows(key: str) -> list[tuple[Any, ...]]:
        out = []
        for d in r["detectors"]:
            f = d[key]
            out.append(
                (
                    d["name"],
                    f["f1@0.5"],
                    f["precision@0.5"],
                    f["recall@0.5"],
                    f["f1@0.8"],
                    f"{f['exact_count']}/{f['pages']}",
                    f"{f['order_ok']}/{f['order_pages']}",
                    f"{d['s_per_page']:.3f}",
                )
            )
        return out

    headers = ["detector", "F1@0.5", "P@0.5", "R@0.5", "F1@0.8", "exact count", "order", "s/page"]
    ref = r["reference"]
    k = ref["without_advert"]
    reference = (
        ref["name"],
        k["f1@0.5"],
        k["precision@0.5"],
        k["recall@0.5"],
        None,
        f"{k['exact_count']}/35",
        f"{k['order_ok']}/{k['order_pages']}",
        f"{ref['s_per_page']} (1960s set)",
    )
    if r["archive"] == "generated":
        return "\n".join(
            [
                f"Held-out generated pages ({r['pages']}, demo.detector_pages: overlaps, insets, "
                "pinwheels, shared frame lines, open frames, painted colour, scans; not real "
                "material; the truth lists panels in layout order, so order is only indicative)",
                _table(headers, rows("with_advert")),
            ]
        )
    out = [
        f"Panels on real pages: {r['pages']} pages of {Path(r['archive']).name}, "
        f"truth {Path(r['truth']).name}; order = matched panels (IoU 0.5) in the truth's order, "
        "on pages with 2+ matches; s/page = detection on one core",
        "",
        f"without the ring-advert page {r['advert_page']}:",
        _table(headers, [*rows("without_advert"), reference]),
        "",
        f"with {r['advert_page']} (47 catalogue cells):",
        _table(headers, rows("with_advert")),
    ]
    for d in r["detectors"]:
        wrong = [
            p for p in d["page_rows"] if p["predicted"] != p["truth"] or p["order_ok"] is False
        ]
        out += ["", f"{d['name']}: pages with a wrong count or order: {len(wrong)}"]
        out += [
            f"  {p['page']} ({p['type']}): truth {p['truth']}, predicted {p['predicted']}, "
            f"matched {p['matched@0.5']} @0.5 / {p['matched@0.8']} @0.8, "
            f"order {_cell(p['order_ok'])}"
            for p in wrong
        ]
    out += ["", f"machine: {_load(r['timing'])}"]
    return "\n".join(out)
