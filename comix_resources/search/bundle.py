"""The search bundle: everything the search page needs, in one folder swapped in atomically.

Written by the ``embedding_index`` asset to ``$COMIX_HOME/lake/index/``, read by the web app
(``comix_resources.webapp``) with no MLflow, Zarr or Dagster at query time::

    index/
      pages/           VectorIndex.save folder; ids are page ids
      panels/          VectorIndex.save folder; ids are "<page_id>:<slot>"
      catalog.parquet  one row per page (CATALOG_SCHEMA): ids, image path, size, type, panels
      model/           ClosureLitePredictor.save folder (config.json, state_dict.pt)
      manifest.json    lineage (model_name, model_version, mlflow_run_id, variant, created...)
                       plus counts; written last

``slot`` is the panel's slot in the embedding store (``panel_mask`` column), the same number as
``catalog.panels[].slot``; ``order`` is its rank in reading order. Boxes are ``[x, y, w, h]`` in
the pixels of ``width`` x ``height`` (the page image's size when the boxes were made; the image
on disk may be scaled from it, so a reader scales by its own size).

Vectors are L2-normalised here whatever the caller passes, because the index scores by inner
product and the model's outputs are layer-normed, not unit length; the query side
(``closure_lite.query``) normalises the same way.

The map asset writes ``analysis/embedding_map.parquet`` (``page_id, x, y, cluster``) beside it;
the web app joins it when present (``load_embedding_map``).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from comix_resources.ids import sha256_bytes, sha256_file
from comix_resources.lake import Lake
from comix_resources.search.index import Kind, VectorIndex, build_index
from comix_resources.tables import EMBEDDING_MAP, SEARCH_INDEX

FORMAT_VERSION = 1
INDEX_DIR = SEARCH_INDEX.file  # under the lake root
EMBEDDING_MAP_PATH = EMBEDDING_MAP.file  # under the lake root
MANIFEST = "manifest.json"
CATALOG = "catalog.parquet"

PANEL_STRUCT = pl.Struct(
    {
        "slot": pl.Int32,
        "box": pl.List(pl.Float32),
        "order": pl.Int32,
        "text": pl.String,
    }
)
CATALOG_SCHEMA: dict[str, pl.DataType] = {
    "page_id": pl.String(),
    "book_id": pl.String(),
    "source": pl.String(),
    "collection": pl.String(),
    # The Dagster partition the page was made in: the collection, or one of its shards.
    "partition": pl.String(),
    "page_index": pl.Int32(),
    "image_path": pl.String(),  # lake-relative: <source>/<collection>/pages/<book>/<i>.<ext>
    "width": pl.Int32(),
    "height": pl.Int32(),
    "page_type": pl.String(),  # nullable: pages the classifier has not seen
    "is_comic": pl.Boolean(),
    "panels": pl.List(PANEL_STRUCT),
    "text": pl.String(),  # the panels' text joined, for keyword search
}
MAP_SCHEMA: dict[str, pl.DataType] = {
    "page_id": pl.String(),
    "x": pl.Float32(),
    "y": pl.Float32(),
    "cluster": pl.Int32(),
}


def panel_id(page_id: str, slot: int) -> str:
    return f"{page_id}:{slot}"


def split_panel_id(value: str) -> tuple[str, int]:
    """``("<page_id>", slot)`` from ``"<page_id>:<slot>"``; ValueError for anything else."""
    page, sep, slot = value.rpartition(":")
    if not sep or not page or not slot.isdigit():
        raise ValueError(f"a panel id is '<page_id>:<slot>', got {value!r}")
    return page, int(slot)


def normalise_rows(vectors: np.ndarray) -> np.ndarray:
    """float32 rows of unit length; all-zero rows stay zero (never NaN)."""
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return vectors / np.where(norms > 0, norms, 1.0)


def conform_catalog(catalog: pl.DataFrame) -> pl.DataFrame:
    """The catalog in ``CATALOG_SCHEMA`` column order and types; ValueError when it cannot be.

    ``text`` may be missing (it is rebuilt from the panels' text), as may ``page_type``
    (all null), ``is_comic`` (all true) and ``partition`` (the collection: one that is not
    split into shards is its own partition); every other column is required.
    """
    frame = catalog
    if "partition" not in frame.columns and "collection" in frame.columns:
        frame = frame.with_columns(pl.col("collection").alias("partition"))
    if "page_type" not in frame.columns:
        frame = frame.with_columns(pl.lit(None, dtype=pl.String).alias("page_type"))
    if "is_comic" not in frame.columns:
        frame = frame.with_columns(pl.lit(True).alias("is_comic"))
    if "text" not in frame.columns and "panels" in frame.columns:
        frame = frame.with_columns(
            pl.col("panels")
            .list.eval(pl.element().struct.field("text"))
            .list.eval(pl.element().filter(pl.element().str.len_chars() > 0))
            .list.join(" ")
            .fill_null("")
            .alias("text")
        )
    missing = [c for c in CATALOG_SCHEMA if c not in frame.columns]
    if missing:
        raise ValueError(f"catalog lacks columns {missing}")
    try:
        frame = frame.select(
            [pl.col(name).cast(dtype, strict=True) for name, dtype in CATALOG_SCHEMA.items()]
        )
    except pl.exceptions.PolarsError as error:
        raise ValueError(f"catalog columns do not fit CATALOG_SCHEMA: {error}") from error
    if frame["page_id"].null_count() or frame["page_id"].is_duplicated().any():
        raise ValueError("catalog page_id must be unique and non-null")
    if frame["image_path"].null_count():
        raise ValueError("catalog image_path must be set on every page")
    bad = frame.filter(
        pl.col("image_path").str.starts_with("/")
        | pl.col("image_path").str.contains(r"(^|/)\.\.?(/|$)|://")
    )
    if bad.height:
        # The web app serves images by page id from these paths: they must stay in the lake.
        raise ValueError(f"image_path must be lake-relative, got {bad['image_path'][0]!r}")
    return frame.with_columns(
        pl.col("text").fill_null(""), pl.col("is_comic").fill_null(True)
    ).sort("page_id")


def _check_ids(page_ids: Sequence[str], panel_ids: Sequence[str], catalog: pl.DataFrame) -> None:
    known = set(catalog["page_id"].to_list())
    unknown = [p for p in page_ids if p not in known]
    if unknown:
        raise ValueError(f"{len(unknown)} page ids are not in the catalog, e.g. {unknown[0]!r}")
    if len(set(page_ids)) != len(page_ids):
        raise ValueError("page ids must be unique")
    pages = pl.Series("id", list(panel_ids), dtype=pl.String).str.extract(r"^(.+):\d+$", 1)
    if pages.null_count():
        raise ValueError("panel ids must look like '<page_id>:<slot>'")
    stray = pages.filter(~pages.is_in(catalog["page_id"].implode()))
    if stray.len():
        raise ValueError(f"panel ids of pages not in the catalog, e.g. {stray[0]!r}")


def write_search_bundle(
    directory: Path | str,
    *,
    page_vectors: np.ndarray,
    page_ids: Sequence[str],
    panel_vectors: np.ndarray,
    panel_ids: Sequence[str],
    catalog: pl.DataFrame,
    model_dir_or_predictor: Any,
    manifest: Mapping[str, Any],
    kind: Kind = "auto",
    panel_kind: Kind | None = None,
) -> Path:
    """Build both indexes and write the bundle into ``directory`` (swapped in as a whole).

    ``page_vectors`` (n, d) under ``page_ids``; ``panel_vectors`` (m, d) under ``panel_ids``
    ("<page_id>:<slot>"); ``catalog`` one row per page (``conform_catalog``); the model as a
    ``ClosureLitePredictor`` or a folder it saved; ``manifest`` the lineage (``model_name``,
    ``model_version``, ``mlflow_run_id``, ``variant``...). ``kind`` picks the index kind
    (``auto``: exact up to ``AUTO_EXACT_MAX`` vectors, HNSW above); ``panel_kind`` defaults
    to ``kind``. ``directory`` is a folder or any fsspec URL (``s3://bucket/lake/index``):
    locally the bundle is built in a staging folder renamed into place; on an object store it
    is built in a local temporary folder and uploaded, the manifest last. Returns where the
    bundle is, as given.
    """
    frame = conform_catalog(catalog)
    page_ids, panel_ids = [str(i) for i in page_ids], [str(i) for i in panel_ids]
    _check_ids(page_ids, panel_ids, frame)
    pages = normalise_rows(page_vectors)
    panels = normalise_rows(panel_vectors).reshape(len(panel_ids), -1)
    if pages.ndim != 2 or len(pages) != len(page_ids):
        raise ValueError(f"page_vectors {pages.shape} do not match {len(page_ids)} page ids")
    if len(panels) and panels.shape[1] != pages.shape[1]:
        raise ValueError(f"panel dim {panels.shape[1]} differs from page dim {pages.shape[1]}")
    page_index = build_index(pages, page_ids, kind=kind)
    panel_index = build_index(
        panels if len(panels) else np.zeros((0, pages.shape[1]), np.float32),
        panel_ids,
        kind=panel_kind or kind,
    )

    def write(folder: Path) -> None:
        page_index.save(folder / "pages")
        panel_index.save(folder / "panels")
        frame.write_parquet(folder / CATALOG, compression="zstd", statistics=True)
        if isinstance(model_dir_or_predictor, str | Path):
            source = Path(model_dir_or_predictor)
            if not (source / "config.json").is_file():
                raise ValueError(f"{source} is not a ClosureLitePredictor folder")
            shutil.copytree(source, folder / "model")
        else:
            model_dir_or_predictor.save(folder / "model")
        meta = {
            **dict(manifest),
            "format_version": FORMAT_VERSION,
            "created": manifest.get("created") or datetime.now(UTC).isoformat(timespec="seconds"),
            "pages": len(page_ids),
            "panels": len(panel_ids),
            "dim": int(pages.shape[1]),
            "page_index_kind": page_index.kind,
            "panel_index_kind": panel_index.kind,
            "page_index_recall_at_10": page_index.recall,
            "panel_index_recall_at_10": panel_index.recall,
            # What a reader of an object store checks its copy against (fetch_search_bundle):
            # an upload replaces files one by one, and a copy taken meanwhile is torn.
            "files": {
                path.relative_to(folder).as_posix(): sha256_file(path)
                for path in sorted(folder.rglob("*"))
                if path.is_file()
            },
        }
        # Last, so that on object stores (no folder rename) its presence means "complete".
        (folder / MANIFEST).write_text(json.dumps(meta, indent=1, sort_keys=True, default=str))

    parent, _, name = str(directory).rstrip("/").rpartition("/")
    lake = Lake(parent or ".")
    target = lake.path(name)
    if lake.is_local:
        Path(lake.root).mkdir(parents=True, exist_ok=True)
        with lake.staging_dir(target) as staging:
            write(Path(staging))
    else:
        with tempfile.TemporaryDirectory(prefix="comix-bundle-") as scratch:
            write(Path(scratch))
            lake.upload_folder(scratch, target, last=MANIFEST)
    return directory


def fetch_search_bundle(location: Path | str, cache_dir: Path, attempts: int = 5) -> Path:
    """A local folder with the complete bundle at ``location``: the folder itself when it is
    local; for an object store (``s3://bucket/lake/index``) a copy under ``cache_dir``, made once
    per published manifest and checked file by file against the digests it lists.

    The indexes are memory-mapped and the model is read from files, so the search page needs
    them on its own disk. A copy that a new publication tore (its files changed while they
    were copied) is thrown away and taken again; older copies are removed once a new one is
    complete. Raises FileNotFoundError when nothing is published there.
    """
    parent, _, name = str(location).rstrip("/").rpartition("/")
    lake = Lake(parent or ".")
    remote = lake.path(name)
    if lake.is_local:
        return Path(remote)
    manifest_path = f"{remote}/{MANIFEST}"
    cache_dir.mkdir(parents=True, exist_ok=True)
    for _ in range(attempts):
        if not lake.exists(manifest_path):
            raise FileNotFoundError(f"{location} holds no complete search bundle ({MANIFEST})")
        published = lake.read_bytes(manifest_path)
        target = cache_dir / sha256_bytes(published)[:16]
        if (target / MANIFEST).is_file():
            return target
        expected = json.loads(published).get("files", {})
        scratch = cache_dir / f".tmp-{uuid.uuid4().hex}"
        for found in lake.fs.find(remote):
            relative = found[len(remote) + 1 :]
            if relative != MANIFEST:
                (scratch / relative).parent.mkdir(parents=True, exist_ok=True)
                lake.fs.get_file(found, str(scratch / relative))
        copied = {
            path.relative_to(scratch).as_posix(): sha256_file(path)
            for path in scratch.rglob("*")
            if path.is_file()
        }
        if copied == expected and lake.read_bytes(manifest_path) == published:
            (scratch / MANIFEST).write_bytes(published)  # last: the copy is complete
            os.replace(scratch, target)
            for old in cache_dir.iterdir():
                if old != target:
                    shutil.rmtree(old, ignore_errors=True)
            return target
        shutil.rmtree(scratch, ignore_errors=True)
    raise RuntimeError(
        f"the search bundle at {location} changed every time it was copied ({attempts} tries)"
    )


@dataclass
class SearchBundle:
    """A loaded bundle; ``view=True`` memory-maps the indexes (fast start, shared pages)."""

    directory: Path
    pages: VectorIndex
    panels: VectorIndex
    catalog: pl.DataFrame
    manifest: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def load(cls, directory: Path | str, view: bool = False) -> SearchBundle:
        folder = Path(directory)
        if not (folder / MANIFEST).is_file():
            raise FileNotFoundError(f"{folder} holds no complete search bundle ({MANIFEST})")
        return cls(
            directory=folder,
            pages=VectorIndex.load(folder / "pages", view=view),
            panels=VectorIndex.load(folder / "panels", view=view),
            catalog=pl.read_parquet(folder / CATALOG),
            manifest=json.loads((folder / MANIFEST).read_text()),
        )

    @property
    def model_dir(self) -> Path:
        return self.directory / "model"

    @cached_property
    def predictor(self) -> Any:
        """The bundle's ``ClosureLitePredictor`` (torch is imported on first use)."""
        from comix_resources.closure_lite.inference import ClosureLitePredictor

        return ClosureLitePredictor.load(self.model_dir)


def load_embedding_map(lake_root: Path | str) -> pl.DataFrame | None:
    """``analysis/embedding_map.parquet`` as ``MAP_SCHEMA``, or None when it is not there."""
    lake = Lake(lake_root)
    path = lake.path(EMBEDDING_MAP_PATH)
    if not lake.exists(path):
        return None
    frame = lake.read_parquet(path)
    return frame.select(
        [pl.col(name).cast(dtype) for name, dtype in MAP_SCHEMA.items() if name in frame.columns]
    )
