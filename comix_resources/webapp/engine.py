"""Query execution over a ``SearchBundle``: filtered vector search, keyword search, lookups.

Plain numpy/polars, no web framework, so notebooks and the benchmark can use it directly.

Filters become one boolean mask over catalog rows (columns are dictionary-coded once at load,
so a filter costs an ``isin`` over int32 codes: about a millisecond per million pages). How a
filtered vector query runs depends on how many vectors pass:

- exact indexes (small corpora) score every vector and mask the scores;
- HNSW indexes score the passing vectors exactly when there are at most
  ``EXACT_SUBSET_MAX`` of them (a book, a small collection: exact and cheap), and otherwise
  over-fetch from the graph by the inverse of the pass rate and filter the candidates; if
  that still yields fewer than ``k`` (the passing pages lie far from the query), they fall
  back to exact search over the passing vectors, in chunks.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal

import numpy as np
import polars as pl

from comix_resources.search.bundle import SearchBundle, normalise_rows, split_panel_id
from comix_resources.search.index import VectorIndex

Mode = Literal["page", "panel"]
MODES: tuple[str, ...] = ("page", "panel")
FILTER_COLUMNS = ("source", "collection", "book_id", "page_type")
UNKNOWN_TYPE = "unknown"  # what a null page_type is called in filters and facets
NO_CLUSTER = -1
# HNSW: up to this many passing vectors are fetched from the index and scored exactly. usearch
# hands back ~1M f16 vectors/s, so 10K cost ~10 ms; beyond, over-fetching the graph is cheaper.
EXACT_SUBSET_MAX = 10_000
# Largest candidate list asked of the graph (k=4000 costs ~20 ms at 200K vectors).
MAX_FETCH = 4096
FALLBACK_CHUNK = 65_536
MAX_TERMS = 10


class QueryError(ValueError):
    """A query the engine cannot answer as asked (unknown id, bad filter...): a 4xx."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Filters:
    """Each field restricts to any of its values; empty means no restriction."""

    source: tuple[str, ...] = ()
    collection: tuple[str, ...] = ()
    book_id: tuple[str, ...] = ()
    page_type: tuple[str, ...] = ()
    is_comic: bool | None = None
    cluster: tuple[int, ...] = ()

    @property
    def empty(self) -> bool:
        return not any(
            (self.source, self.collection, self.book_id, self.page_type, self.cluster)
        ) and (self.is_comic is None)

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            name: list(getattr(self, name)) for name in (*FILTER_COLUMNS, "cluster")
        }
        out["is_comic"] = self.is_comic
        return {k: v for k, v in out.items() if v not in ([], None)}


@dataclass
class Hit:
    row: int  # catalog row
    score: float
    slot: int | None = None  # panel mode: the panel's slot


@dataclass
class SearchOutcome:
    hits: list[Hit]
    candidates: int  # vectors that passed the filters
    strategy: str  # how the query ran: ann, exact, ann+filter, exact-subset, fallback...
    extra: dict[str, Any] = field(default_factory=dict)


def parse_terms(text: str) -> list[str]:
    """Lower-cased keyword terms; "quoted phrases" stay whole."""
    terms = [
        (quoted or bare.strip('"')).strip().lower()
        for quoted, bare in re.findall(r'"([^"]+)"|(\S+)', text or "")
    ]
    return [t for t in terms if t][:MAX_TERMS]


def _codes(series: pl.Series) -> tuple[np.ndarray, dict[str, int]]:
    """Dense int32 codes of a string column and the value -> code table."""
    values = series.fill_null(UNKNOWN_TYPE) if series.name == "page_type" else series
    values = values.fill_null("")
    uniques = values.unique().sort()
    table = {str(v): i for i, v in enumerate(uniques.to_list())}
    codes = values.replace_strict(uniques, pl.int_range(len(uniques), eager=True)).cast(pl.Int32)
    return codes.to_numpy(), table


class SearchEngine:
    """Answers page and panel queries against one bundle (and the optional corpus map)."""

    def __init__(
        self,
        bundle: SearchBundle,
        embedding_map: pl.DataFrame | None = None,
        exact_subset_max: int = EXACT_SUBSET_MAX,
        max_fetch: int = MAX_FETCH,
    ) -> None:
        self.bundle = bundle
        self.exact_subset_max = exact_subset_max
        self.max_fetch = max_fetch
        catalog = bundle.catalog
        if embedding_map is not None and embedding_map.height:
            catalog = catalog.join(
                embedding_map.select("page_id", "x", "y", "cluster"),
                on="page_id",
                how="left",
                maintain_order="left",
            )
            catalog = catalog.with_columns(pl.col("cluster").fill_null(NO_CLUSTER))
        else:
            catalog = catalog.with_columns(
                pl.lit(None, pl.Float32).alias("x"),
                pl.lit(None, pl.Float32).alias("y"),
                pl.lit(NO_CLUSTER, pl.Int32).alias("cluster"),
            )
        self.has_map = embedding_map is not None and embedding_map.height > 0
        self.catalog = catalog
        self.page_ids: list[str] = catalog["page_id"].to_list()
        self.row_of: dict[str, int] = {p: i for i, p in enumerate(self.page_ids)}
        self.codes = {name: _codes(catalog[name]) for name in FILTER_COLUMNS}
        self.is_comic = catalog["is_comic"].fill_null(True).to_numpy()
        self.cluster = catalog["cluster"].cast(pl.Int32).to_numpy()
        lookup = pl.DataFrame({"page_id": self.page_ids, "row": np.arange(len(self.page_ids))})

        # Index row -> catalog row, for pages and for panels ("<page_id>:<slot>").
        page_rows = pl.DataFrame({"page_id": [str(i) for i in bundle.pages.ids]})
        self.page_cat = self._rows(page_rows, lookup)
        self.cat_page = np.full(len(self.page_ids), -1, np.int64)
        self.cat_page[self.page_cat] = np.arange(len(self.page_cat))
        parts = pl.Series("id", [str(i) for i in bundle.panels.ids], dtype=pl.String)
        parts = parts.str.extract_groups(r"^(.+):(\d+)$")
        panel_rows = pl.DataFrame(
            {
                "page_id": parts.struct.field("1"),
                "slot": parts.struct.field("2").cast(pl.Int64),
            }
        )
        self.panel_cat = self._rows(panel_rows, lookup)
        self.panel_slot = panel_rows["slot"].to_numpy().astype(np.int64)
        # (catalog row, slot) -> panel index row through one sorted key array.
        keys = self.panel_cat * 4096 + self.panel_slot
        self._panel_order = np.argsort(keys, kind="stable")
        self._panel_keys = keys[self._panel_order]

    @staticmethod
    def _rows(ids: pl.DataFrame, lookup: pl.DataFrame) -> np.ndarray:
        joined = ids.join(lookup, on="page_id", how="left", maintain_order="left")
        if joined["row"].null_count():
            raise ValueError("the bundle's index holds ids that its catalog lacks")
        return joined["row"].to_numpy().astype(np.int64)

    # lookups ----------------------------------------------------------------------------
    def index(self, mode: Mode) -> VectorIndex:
        return self.bundle.pages if mode == "page" else self.bundle.panels

    def row(self, page_id: str) -> int:
        row = self.row_of.get(page_id)
        if row is None:
            raise QueryError(f"unknown page id {page_id!r}", status=404)
        return row

    def panel_row(self, value: str) -> tuple[int, int]:
        """(catalog row, panel index row) of a panel id."""
        try:
            page_id, slot = split_panel_id(value)
        except ValueError as error:
            raise QueryError(str(error), status=422) from error
        row = self.row(page_id)
        key = row * 4096 + slot
        at = int(np.searchsorted(self._panel_keys, key))
        if at >= len(self._panel_keys) or self._panel_keys[at] != key:
            raise QueryError(f"unknown panel id {value!r}", status=404)
        return row, int(self._panel_order[at])

    def panels_of(self, row: int) -> np.ndarray:
        """Panel index rows of the page at catalog ``row``, by slot."""
        lo, hi = np.searchsorted(self._panel_keys, [row * 4096, (row + 1) * 4096])
        return self._panel_order[lo:hi]

    @staticmethod
    def vectors(index: VectorIndex, rows: np.ndarray) -> np.ndarray:
        rows = np.asarray(rows, dtype=np.int64)
        if index.kind == "exact":
            assert index.vectors is not None
            return np.asarray(index.vectors[rows], dtype=np.float32)
        if not len(rows):
            return np.zeros((0, index.dim), np.float32)
        got = index.hnsw.get(rows.astype(np.uint64))
        return np.vstack(got).astype(np.float32) if isinstance(got, tuple) else got

    def page_vector(self, page_id: str) -> np.ndarray:
        row = self.row(page_id)
        at = int(self.cat_page[row])
        if at < 0:
            raise QueryError(f"page {page_id!r} has no embedding", status=404)
        return normalise_rows(self.vectors(self.bundle.pages, np.array([at])))[0]

    def panel_vector(self, value: str) -> np.ndarray:
        _, at = self.panel_row(value)
        return normalise_rows(self.vectors(self.bundle.panels, np.array([at])))[0]

    def records(self, rows: Sequence[int]) -> list[dict[str, Any]]:
        return self.catalog[list(rows)].to_dicts() if len(rows) else []

    # filters ----------------------------------------------------------------------------
    def mask(self, filters: Filters) -> np.ndarray | None:
        """Boolean mask over catalog rows, or None for no filter; QueryError on bad values."""
        if filters.empty:
            return None
        mask = np.ones(len(self.page_ids), dtype=bool)
        for name in FILTER_COLUMNS:
            values = getattr(filters, name)
            if not values:
                continue
            codes, table = self.codes[name]
            # Unknown values match nothing (a collection that is empty, a typo): no error,
            # like any search box.
            wanted = [table[v] for v in values if v in table]
            mask &= np.isin(codes, np.asarray(wanted, dtype=np.int32))
        if filters.is_comic is not None:
            mask &= self.is_comic == filters.is_comic
        if filters.cluster:
            mask &= np.isin(self.cluster, np.asarray(filters.cluster, dtype=np.int32))
        return mask

    # vector search ----------------------------------------------------------------------
    def search_vector(
        self,
        vector: np.ndarray,
        mode: Mode = "page",
        k: int = 20,
        filters: Filters | None = None,
        exclude_rows: Iterable[int] = (),
    ) -> SearchOutcome:
        """Top ``k`` index rows for a unit ``vector``, restricted by ``filters``; index rows
        in ``exclude_rows`` (the query's own page or panel) are skipped."""
        index = self.index(mode)
        to_cat = self.page_cat if mode == "page" else self.panel_cat
        query = normalise_rows(np.asarray(vector, np.float32).reshape(1, -1))
        if query.shape[1] != index.dim:
            raise QueryError(f"query has {query.shape[1]} dims, the index {index.dim}", 422)
        cat_mask = self.mask(filters or Filters())
        excluded = np.asarray(sorted(set(exclude_rows)), dtype=np.int64)
        if k <= 0:
            rows, scores, strategy = np.zeros(0, np.int64), np.zeros(0, np.float32), "empty"
            candidates = 0
        elif cat_mask is None:
            # No filter: the query's own vector(s) are skipped by asking for that many more.
            candidates = len(index) - len(excluded)
            rows, scores = index.search_rows(query, k + len(excluded))
            rows, scores = rows[0], scores[0]
            keep = (rows >= 0) & ~np.isin(rows, excluded)
            rows, scores = rows[keep][:k], scores[keep][:k]
            strategy = "exact" if index.kind == "exact" else "ann"
        else:
            allowed = cat_mask[to_cat]
            allowed[excluded] = False
            candidates = int(allowed.sum())
            if candidates == 0:
                rows, scores, strategy = np.zeros(0, np.int64), np.zeros(0, np.float32), "empty"
            elif index.kind == "exact":
                rows, scores, strategy = self._exact(index, query, k, allowed, candidates)
            else:
                rows, scores, strategy = self._graph(index, query, k, allowed, candidates)
        hits = [
            Hit(
                row=int(to_cat[r]),
                score=float(s),
                slot=None if mode == "page" else int(self.panel_slot[r]),
            )
            for r, s in zip(rows, scores, strict=True)
        ]
        return SearchOutcome(hits, candidates, strategy)

    @staticmethod
    def _best(rows: np.ndarray, scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        if len(scores) > k:
            top = np.argpartition(-scores, k - 1)[:k]
            rows, scores = rows[top], scores[top]
        order = np.lexsort((rows, -scores))
        return rows[order], scores[order]

    def _exact(
        self,
        index: VectorIndex,
        query: np.ndarray,
        k: int,
        allowed: np.ndarray,
        candidates: int,
    ) -> tuple[np.ndarray, np.ndarray, str]:
        assert index.vectors is not None
        if candidates * 3 < len(index):
            # Few pass: copying them out costs less than scoring everything.
            passing = np.flatnonzero(allowed)
            rows, scores = self._best(passing, self.vectors(index, passing) @ query[0], k)
            return rows, scores, "exact-subset"
        best_rows, best_scores = np.zeros(0, np.int64), np.zeros(0, np.float32)
        for start in range(0, len(index), FALLBACK_CHUNK):
            block = np.asarray(index.vectors[start : start + FALLBACK_CHUNK]) @ query[0]
            passing = np.flatnonzero(allowed[start : start + FALLBACK_CHUNK])
            best_rows, best_scores = self._best(
                np.concatenate([best_rows, passing + start]),
                np.concatenate([best_scores, block[passing]]),
                k,
            )
        return best_rows, best_scores, "exact-masked"

    def _graph(
        self,
        index: VectorIndex,
        query: np.ndarray,
        k: int,
        allowed: np.ndarray,
        candidates: int,
    ) -> tuple[np.ndarray, np.ndarray, str]:
        n = len(index)
        if candidates <= self.exact_subset_max:
            passing = np.flatnonzero(allowed)
            scores = normalise_rows(self.vectors(index, passing)) @ query[0]
            rows, scores = self._best(passing, scores, k)
            return rows, scores, "exact-subset"
        # Expected passing candidates among `fetch` = fetch * rate; ask for twice what k needs.
        rate = candidates / n
        fetch = min(self.max_fetch, n, max(2 * k, math.ceil(2 * k / rate)))
        while True:
            rows, scores = index.search_rows(query, fetch)
            rows, scores = rows[0], scores[0]
            keep = (rows >= 0) & allowed[np.maximum(rows, 0)]
            if keep.sum() >= k:
                return rows[keep][:k], scores[keep][:k], "ann+filter"
            if fetch >= min(self.max_fetch, n):
                break
            fetch = min(self.max_fetch, n, fetch * 4)
        # The passing vectors lie far from the query: score them all, a chunk at a time.
        passing = np.flatnonzero(allowed)
        best_rows, best_scores = np.zeros(0, np.int64), np.zeros(0, np.float32)
        for start in range(0, len(passing), FALLBACK_CHUNK):
            chunk = passing[start : start + FALLBACK_CHUNK]
            chunk_scores = normalise_rows(self.vectors(index, chunk)) @ query[0]
            best_rows, best_scores = self._best(
                np.concatenate([best_rows, chunk]), np.concatenate([best_scores, chunk_scores]), k
            )
        return best_rows, best_scores, "exact-fallback"

    # keyword search ---------------------------------------------------------------------
    @cached_property
    def _page_text(self) -> pl.DataFrame:
        return pl.DataFrame(
            {"row": np.arange(len(self.page_ids)), "text": self.catalog["text"].str.to_lowercase()}
        )

    @cached_property
    def _panel_text(self) -> pl.DataFrame:
        return (
            self.catalog.select(pl.int_range(pl.len()).alias("row"), "panels")
            .explode("panels")
            .drop_nulls("panels")
            .select(
                "row",
                pl.col("panels").struct.field("slot").cast(pl.Int64).alias("slot"),
                pl.col("panels").struct.field("text").fill_null("").str.to_lowercase(),
            )
        )

    def search_keywords(
        self, text: str, mode: Mode = "page", k: int = 20, filters: Filters | None = None
    ) -> SearchOutcome:
        """Pages (panels) whose text holds every term; score = number of term occurrences."""
        terms = parse_terms(text)
        if not terms:
            raise QueryError("the keyword query has no terms", status=422)
        frame = self._page_text if mode == "page" else self._panel_text
        cat_mask = self.mask(filters or Filters())
        if cat_mask is not None:
            frame = frame.filter(pl.Series(cat_mask).gather(frame["row"]))
        matches = pl.all_horizontal([pl.col("text").str.contains(t, literal=True) for t in terms])
        score = pl.sum_horizontal(
            [pl.col("text").str.count_matches(t, literal=True) for t in terms]
        )
        found = frame.filter(matches).with_columns(score.cast(pl.Float64).alias("score"))
        top = found.sort(["score", "row"], descending=[True, False]).head(k)
        hits = [
            Hit(row=int(r["row"]), score=float(r["score"]), slot=r.get("slot"))
            for r in top.iter_rows(named=True)
        ]
        extra = {"terms": terms, "matches": found.height}
        return SearchOutcome(hits, frame.height, "keyword", extra)

    # facets -----------------------------------------------------------------------------
    @cached_property
    def facets(self) -> dict[str, Any]:
        """Values and page counts of every filter, for the page's selects."""
        cat = self.catalog

        def counts(column: str) -> list[dict[str, Any]]:
            values = cat[column]
            if column == "page_type":
                values = values.fill_null(UNKNOWN_TYPE)
            frame = values.value_counts(sort=False).sort(column)
            return [{"value": v, "count": int(c)} for v, c in frame.iter_rows()]

        collections = (
            cat.group_by("source", "collection").len().sort("source", "collection").iter_rows()
        )
        clusters = (
            cat.filter(pl.col("cluster") != NO_CLUSTER)["cluster"].value_counts().sort("cluster")
        )
        return {
            "source": counts("source"),
            "collection": [{"source": s, "value": c, "count": int(n)} for s, c, n in collections],
            "page_type": counts("page_type"),
            "is_comic": [
                {"value": True, "count": int(self.is_comic.sum())},
                {"value": False, "count": int((~self.is_comic).sum())},
            ],
            "cluster": [{"value": int(v), "count": int(c)} for v, c in clusters.iter_rows()],
        }

    def books(self, collection: str | None = None, limit: int = 500) -> list[dict[str, Any]]:
        frame = self.catalog
        if collection:
            frame = frame.filter(pl.col("collection") == collection)
        grouped = frame.group_by("book_id").agg(
            pl.len().alias("pages"), pl.first("source"), pl.first("collection")
        )
        return grouped.sort("book_id").head(limit).to_dicts()

    def page_ids_with_prefix(self, prefix: str, limit: int = 20) -> list[str]:
        import bisect

        start = bisect.bisect_left(self.page_ids, prefix)
        out = []
        for page_id in self.page_ids[start : start + limit]:
            if not page_id.startswith(prefix):
                break
            out.append(page_id)
        return out
