"""The page_text stage: one decode per page on worker processes, triage before the cascade,
and page_quality judging from the stage's features without decoding again."""

from __future__ import annotations

from pathlib import Path

import pytest

from comix_resources.benchmarks.ocr import sample_page
from comix_resources.benchmarks.pipeline import BenchPage, write_lake
from comix_resources.benchmarks.pipeline_run import COLLECTION, SOURCE
from comix_resources.detection import ContourDetector
from comix_resources.detection.table import detect_pages
from comix_resources.lake import Lake
from comix_resources.quality.table import page_quality_table
from comix_resources.text import OcrEngine, TextCascade
from comix_resources.text.table import extract_page_text

# pages of the real programming book that are prose and code from margin to margin
PROSE_PAGES = (251, 503)


@pytest.fixture(scope="module")
def lake(shared_fixtures: Path, tmp_path_factory: pytest.TempPathFactory) -> Lake:
    import pymupdf

    pages = []
    with pymupdf.open(shared_fixtures / "real_archives/stump/rust_book.pdf") as doc:
        for index in PROSE_PAGES:
            pixmap = doc[index].get_pixmap(dpi=150)
            png = pixmap.tobytes("png")
            pages.append(
                BenchPage(
                    f"rust-{index:04d}",
                    "rust",
                    index,
                    png,
                    "png",
                    pixmap.width,
                    pixmap.height,
                    False,
                )
            )
    comic = sample_page()
    # enough pages for two workers to be worth starting (a page each would not be)
    for index in range(6):
        pages.append(
            BenchPage(
                f"sample-{index:04d}",
                "sample",
                index,
                comic.image,
                "png",
                comic.width,
                comic.height,
                True,
            )
        )
    root = tmp_path_factory.mktemp("stage-lake")
    write_lake(root, pages)
    return Lake(str(root))


def test_prose_pages_skip_recognition_and_quality_needs_no_decode(lake: Lake) -> None:
    pages = lake.read_parquet(lake.partition_path(SOURCE, COLLECTION, "pages.parquet"))
    panels, _, _ = detect_pages(lake, pages, ContourDetector())
    table, summary = extract_page_text(
        lake, pages, TextCascade([OcrEngine()]), panels=panels, workers=2
    )
    rows = {row["page_id"]: row for row in table.iter_rows(named=True)}
    for index in PROSE_PAGES:
        row = rows[f"rust-{index:04d}"]
        assert (row["status"], row["engine"], row["triage"]) == ("ok", "triage", "non_comic")
        assert row["items"] == [] and "skipped ocr" in row["skipped"]
        assert "text_page" in row["triage_reason"] and "text line(s) detected" in row["skipped"]
    comic = rows["sample-0000"]
    assert (comic["engine"], comic["triage"], comic["skipped"]) == ("ocr", "comic", None)
    assert any("golden key" in item["text"] for item in comic["items"])
    assert summary["skipped"] == 2 and summary["workers"]["workers"] == 2
    assert summary["workers"]["peak_rss_mb_per_worker"] > 50

    # page_quality reads the stage's features: the page files are not needed any more
    for page in pages.iter_rows(named=True):
        Path(lake.local_path(lake.path(page["path"]))).unlink()
    quality = page_quality_table(lake, pages, panels, table)
    verdicts = dict(zip(quality["page_id"], quality["is_comic"], strict=True))
    assert verdicts == {
        "rust-0251": False,
        "rust-0503": False,
        **{f"sample-{index:04d}": True for index in range(6)},
    }
    flags = dict(zip(quality["page_id"], quality["flags"].to_list(), strict=True))
    assert flags["rust-0251"] == ["text_page"]
