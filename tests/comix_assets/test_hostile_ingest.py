"""The hostile corpus (tests/hostile.py) as one collection next to good books, through Dagster.

Every good book's pages must arrive, every bad file's books row must say what the corpus
expects, nothing may be written outside the lake; the table (input, expected, got) is printed
and, with COMIX_TEST_ARTIFACTS set, written to ``<artifacts>/hostile/corpus.md``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from comix_assets.definitions import build_definitions, build_resources
from comix_resources.ids import safe_text
from comix_resources.lake import Lake
from comix_resources.settings import ComixSettings
from tests.hostile import (
    COLLECTION,
    Case,
    available_cases,
    cbz,
    corpus_table,
    drawn_page,
    rewrite,
    shown,
    write_corpus,
)

pytestmark = pytest.mark.slow
SOURCE = "darkhorse"
BAD_FOLDER = os.fsdecode(b"Bad \xff\xfe folder")  # not UTF-8
CJK_FOLDERS = ("進撃の巨人", "ワンピース")  # nothing ASCII: both slug to nothing


def got_for(case: Case, book: dict | None, pages: pl.DataFrame, quality: pl.DataFrame) -> str:
    if book is None:
        return "no books row"
    text = str(book["status"]) + (f": {book['error']}" if book["error"] else "")
    mine = pages.filter(pl.col("book_id") == book["book_id"]) if book["status"] == "ok" else None
    if mine is not None:
        ok = mine.filter(pl.col("status") == "ok")
        if ok.height:
            text += f"; {ok.height} page(s)"
        for row in mine.filter(pl.col("status") != "ok").iter_rows(named=True):
            text += f"; page {row['source_name']}: {row['error']}"
        unreadable = quality.filter(
            pl.col("page_id").is_in(ok["page_id"].to_list())
            & pl.col("flags").list.contains("unreadable")
        )
        if unreadable.height:
            text += f"; {unreadable.height} page(s) unreadable in page_quality"
            text += f" ({unreadable['reasons'][0]})"
    for column in case.fields:
        text += f"; {column} {shown(book[column])}"
    return text


def meets(case: Case, book: dict | None, pages: pl.DataFrame, quality: pl.DataFrame) -> bool:
    if book is None or book["status"] != case.status:
        return False
    if case.message and not re.search(case.message, book["error"] or ""):
        return False
    mine = pages.filter(pl.col("book_id") == book["book_id"])
    ok = mine.filter(pl.col("status") == "ok") if case.status == "ok" else mine.clear()
    if ok.height != case.pages:
        return False
    errors = dict(mine.filter(pl.col("status") != "ok").select("source_name", "error").iter_rows())
    if case.status == "ok" and set(errors) != set(case.page_errors):
        return False
    if any(not re.search(p, errors.get(n) or "") for n, p in case.page_errors.items()):
        return False
    flagged = quality.filter(
        pl.col("page_id").is_in(ok["page_id"].to_list())
        & pl.col("flags").list.contains("unreadable")
    )
    if any(shown(book[column]) != value for column, value in case.fields.items()):
        return False
    return flagged.height == case.unreadable


def outside_the_home(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if "comix-home" not in p.parts}


# The readable books are small drawn pages: how well their OCR text aligns with their panels
# (a blocking rate on real collections) is not what this test judges.
ANY_ALIGNMENT = {"resources": {"data_quality": {"config": {"min_aligned_rate": 0.0}}}}


def test_a_hostile_collection_costs_only_its_bad_files(comix_env, tmp_path, monkeypatch) -> None:
    root = tmp_path / SOURCE
    cases = available_cases()
    write_corpus(root / COLLECTION, cases)
    for index, folder in enumerate((BAD_FOLDER, *CJK_FOLDERS)):
        (root / folder).mkdir()
        cbz([("p1.jpg", drawn_page(50 + index))])(root / folder / "one.cbz")
    monkeypatch.setenv("COMIX_DARKHORSE_ROOT", str(root))
    settings = ComixSettings.from_env()
    defs = build_definitions(settings)
    job = defs.resolve_job_def(f"{SOURCE}_collection_job")
    books_key = dg.AssetKey([SOURCE, "books"])
    pages_key = dg.AssetKey([SOURCE, "pages"])
    after_books = sorted(set(job.asset_layer.executable_asset_keys) - {books_key})

    keys = {
        c.name: c.key for c in build_resources(settings)["sources"].source(SOURCE).collections()
    }
    # Any byte sequence in a folder name: a safe display name and a stable slug of its own.
    assert keys[safe_text(BAD_FOLDER)] == "bad-xff-xfe-folder"
    cjk = [keys[name] for name in CJK_FOLDERS]
    assert len(set(cjk)) == 2 and all(re.fullmatch(r"collection-[0-9a-f]{6}", k) for k in cjk)
    hostile = keys[COLLECTION]
    before = outside_the_home(tmp_path)

    with dg.DagsterInstance.ephemeral() as instance:
        instance.add_dynamic_partitions(f"{SOURCE}_collections", list(keys.values()))

        def run(partition: str, selection: list[dg.AssetKey]) -> dg.ExecuteInProcessResult:
            return job.execute_in_process(
                instance=instance,
                partition_key=partition,
                asset_selection=selection,
                raise_on_error=False,
                run_config=ANY_ALIGNMENT,
            )

        assert run(hostile, [books_key]).success
        rewrite(root / COLLECTION)  # between the books and the pages steps
        result = run(hostile, after_books)
        assert result.success, [e.message for e in result.all_events if e.is_step_failure]
        for name, key in keys.items():
            if key != hostile:
                other = run(key, [books_key, pages_key])
                assert other.success, name
        check = {e.check_name: e for e in result.get_asset_check_evaluations()}
        assert not check["pages_decodable"].passed  # the failures are reported, not hidden

    lake = Lake(settings.lake_root)
    books = lake.read_parquet(lake.path(SOURCE, hostile, "books.parquet"))
    pages = lake.read_parquet(lake.path(SOURCE, hostile, "pages.parquet"))
    quality = lake.read_parquet(lake.path(SOURCE, hostile, "page_quality.parquet"))
    by_path = {row["relative_path"]: row for row in books.iter_rows(named=True)}
    rows, failed = [], []
    for case in cases:
        book = by_path.get(safe_text(f"{COLLECTION}/{case.name}"))
        rows.append(
            (
                f"`{safe_text(case.name)}`: {case.what}",
                case.expected,
                got_for(case, book, pages, quality),
            )
        )
        if not meets(case, book, pages, quality):
            failed.append(rows[-1])
    table = corpus_table(rows)
    print(f"\n{table}\n")
    artifacts = os.environ.get("COMIX_TEST_ARTIFACTS")
    if artifacts:
        (Path(artifacts) / "hostile").mkdir(parents=True, exist_ok=True)
        (Path(artifacts) / "hostile" / "corpus.md").write_text(table + "\n")
    assert not failed, corpus_table(failed)
    assert books.height == len(cases)

    # The rewritten file's new bytes never landed under the old book id.
    rewritten = by_path[f"{COLLECTION}/rewritten.cbz"]
    assert not (settings.lake_root / SOURCE / hostile / "pages" / rewritten["book_id"]).exists()
    # The exact name bytes are kept for the file that is not UTF-8.
    odd = next(c for c in cases if c.name.startswith("\udcff"))
    row = by_path[safe_text(f"{COLLECTION}/{odd.name}")]
    assert row["relative_path"] == "Hostile/\\xff\\xfe-latin1 \\xe9t\\xe9.cbz"
    assert row["raw_path"] == os.fsencode(root / COLLECTION / odd.name)
    # The 200 MB duplicate-name entry never reached the lake.
    assert int(pages["bytes"].max()) < 10 * 1024**2
    # Nothing outside the lake was written, and the zip-slip entry went nowhere.
    assert outside_the_home(tmp_path) == before
    assert not list(tmp_path.rglob("escaped.jpg"))
