"""The data lake: fsspec paths under one root, every file written to a temporary name and renamed.

Layout (DESIGN.md): ``<source>/<collection>/<table>.parquet``,
``<source>/<collection>/pages/<book_id>/<page_index:04d>.<ext>``, ``embeddings.zarr/``,
``index/`` and ``analysis/``. Readers never see a half-written file: a killed run leaves at most
a ``.tmp-*`` file beside its target, which the next writer of that target replaces.

On an object store (``s3://``: the endpoint and keys come from boto's own variables,
``AWS_ENDPOINT_URL``, ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``) a file is published
whole by its upload (one PUT, or a multipart upload's completion), so there is no temporary
name to rename. A folder has no rename at all: ``staging_dir`` unpublishes the old folder, its
caller writes the files and then its marker (a manifest, the Zarr group's completion attribute)
last, and readers trust a folder only once its marker is there.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import posixpath
import shutil
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import fsspec
import polars as pl
from fsspec.implementations.local import LocalFileSystem

from comix_resources.shards import lake_folder

TMP_PREFIX = ".tmp-"


class Lake:
    """A lake rooted at a local folder or any fsspec URL (``s3://bucket/comix``)."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.fs, path = fsspec.core.url_to_fs(str(root))
        self.root = path.rstrip("/")
        self.is_local = isinstance(self.fs, LocalFileSystem)
        self._local_root = os.path.realpath(self.root) if self.is_local else ""

    def __repr__(self) -> str:
        return f"Lake({self.url(self.root)!r})"

    # paths ---------------------------------------------------------------------------------
    def path(self, *parts: str) -> str:
        for part in parts:
            if any(segment in ("", ".", "..") for segment in part.strip("/").split("/")):
                raise ValueError(f"unsafe lake path component: {part!r}")
        return "/".join([self.root, *[p.strip("/") for p in parts]])

    def partition_path(self, source: str, partition: str, *parts: str) -> str:
        """A path of one partition: ``<source>/<collection>/...``, or for a shard of a large
        collection ``<source>/<collection>/shards/<range>/...`` (``comix_resources.shards``)."""
        return self.path(source, *lake_folder(partition), *parts)

    def url(self, path: str) -> str:
        return path if self.is_local else self.fs.unstrip_protocol(path)

    def relative(self, path: str) -> str:
        return path[len(self.root) + 1 :] if path.startswith(self.root + "/") else path

    def contains(self, path: str) -> bool:
        """True when ``path`` lies inside the lake (used to refuse writes anywhere else)."""
        # Lexical, not realpath(): it runs for every page written, and the lake holds no links.
        if self.is_local:
            return os.path.normpath(os.path.abspath(path)).startswith(self._local_root + os.sep)
        return posixpath.normpath(path).startswith(self.root + "/")

    def exists(self, path: str) -> bool:
        return self.fs.exists(path)

    # atomic writes -------------------------------------------------------------------------
    @contextmanager
    def open_atomic(self, path: str, mode: str = "wb") -> Iterator[IO[Any]]:
        if not self.contains(path):
            raise ValueError(f"refusing to write outside the lake: {path}")
        if not self.is_local:
            # Nothing is visible until commit(): a failed writer discards its upload, and a
            # killed one leaves only an unfinished multipart upload that no listing shows.
            upload = self.fs.open(path, "wb", autocommit=False)
            handle = upload if "b" in mode else io.TextIOWrapper(upload, encoding="utf-8")
            try:
                with handle:
                    yield handle
                upload.commit()
            except BaseException:
                upload.discard()
                raise
            return
        parent = path.rsplit("/", 1)[0]
        tmp = f"{parent}/{TMP_PREFIX}{uuid.uuid4().hex}-{path.rsplit('/', 1)[1]}"
        os.makedirs(parent, exist_ok=True)
        # Plain open(): fsspec's file wrapper costs as much as the write for small pages.
        try:
            with open(tmp, mode) as handle:
                yield handle
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.remove(tmp)
            raise

    def write_bytes(self, path: str, data: bytes, atomic: bool = True) -> None:
        """Write ``data``; ``atomic=False`` only inside a folder from ``staging_dir``."""
        if atomic:
            with self.open_atomic(path) as handle:
                handle.write(data)
            return
        if not self.contains(path):
            raise ValueError(f"refusing to write outside the lake: {path}")
        with (open if self.is_local else self.fs.open)(path, "wb") as handle:
            handle.write(data)

    @contextmanager
    def staging_dir(self, path: str) -> Iterator[str]:
        """A folder to fill, which replaces ``path`` in one rename once the block completes.

        Object stores have no folder rename: there the old folder is removed first (with its
        marker, so no reader trusts it while it changes, and no file of the old version
        outlives it), the files go straight to ``path``, and the caller's last write (a
        manifest) marks the folder complete. A block that fails leaves the folder unpublished
        for the next writer, where locally the old folder stays.
        """
        if not self.contains(path):
            raise ValueError(f"refusing to write outside the lake: {path}")
        if not self.is_local:
            if self.fs.exists(path):
                self.fs.rm(path, recursive=True)
            yield path
            return
        parent, name = path.rsplit("/", 1)
        staging = f"{parent}/{TMP_PREFIX}{uuid.uuid4().hex}-{name}"
        os.makedirs(staging)
        try:
            yield staging
            if os.path.exists(path):
                retired = f"{parent}/{TMP_PREFIX}{uuid.uuid4().hex}-old-{name}"
                os.replace(path, retired)
                os.replace(staging, path)
                shutil.rmtree(retired)
            else:
                os.replace(staging, path)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise

    def upload_folder(self, local_dir: str | os.PathLike[str], path: str, last: str) -> None:
        """Copy a local folder's files to ``path``, the file named ``last`` after all others:
        on an object store its presence is what tells a reader the folder is complete."""
        if not self.contains(path):
            raise ValueError(f"refusing to write outside the lake: {path}")
        base = Path(local_dir)
        files = sorted(p for p in base.rglob("*") if p.is_file())
        closing = [p for p in files if p.relative_to(base).as_posix() == last]
        for file in [p for p in files if p not in closing] + closing:
            self.fs.put_file(str(file), f"{path}/{file.relative_to(base).as_posix()}")

    def remove_stale_temporaries(self, folder: str, older_than_s: float) -> list[str]:
        """Delete what killed writers left in ``folder`` (temporary files, staging folders)."""
        if not self.exists(folder):
            return []
        removed = []
        now = time.time()
        for entry in self.fs.ls(folder, detail=True):
            name = entry["name"].rstrip("/").rsplit("/", 1)[-1]
            # By name first: a pages/ folder holds one entry per book, and asking each for its
            # age would cost a request per book on an object store.
            if name.startswith(TMP_PREFIX) and now - self._last_write(entry) > older_than_s:
                self.fs.rm(entry["name"], recursive=True)
                if not self.is_local and entry.get("type") == "directory":
                    # A store with real folders behind its S3 API (SeaweedFS) keeps the empty
                    # folder until its own key goes; S3 itself ignores the request.
                    with contextlib.suppress(FileNotFoundError):
                        self.fs.rm_file(entry["name"].rstrip("/") + "/")
                removed.append(entry["name"])
        return removed

    def _last_write(self, entry: dict[str, Any]) -> float:
        """When anything in a listed entry was last written (epoch seconds).

        An object store's folder is only a common prefix: it has no time of its own (asking
        for one raised IsADirectoryError), so its newest object's time stands for it, and an
        empty one counts as written at the epoch.
        """
        if self.is_local or entry.get("type") != "directory":
            return self.fs.modified(entry["name"]).timestamp()
        objects = self.fs.find(entry["name"], detail=True).values()
        return max((self._object_time(info) for info in objects), default=0.0)

    def _object_time(self, info: dict[str, Any]) -> float:
        stamp = info.get("LastModified") or self.fs.modified(info["name"])
        return stamp.timestamp()

    def read_bytes(self, path: str) -> bytes:
        with self.fs.open(path, "rb") as handle:
            return handle.read()

    def write_json(self, path: str, payload: Any) -> None:
        self.write_bytes(path, json.dumps(payload, indent=1, sort_keys=True).encode())

    def read_json(self, path: str) -> Any:
        return json.loads(self.read_bytes(path))

    def write_parquet(self, path: str, frame: pl.DataFrame) -> None:
        """Deterministic bytes for equal frames: unchanged partitions re-materialize identically."""
        buffer = io.BytesIO()
        frame.write_parquet(buffer, compression="zstd", statistics=True)
        self.write_bytes(path, buffer.getvalue())

    def read_parquet(self, path: str) -> pl.DataFrame:
        with self.fs.open(path, "rb") as handle:
            return pl.read_parquet(handle)

    def local_path(self, path: str) -> Path:
        if not self.is_local:
            raise ValueError(f"{self.url(path)} is not on the local file system")
        return Path(path)
