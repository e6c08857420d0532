"""Where the caches that keep CoMix from paying twice live: one table per cache, in a database
every process of a deployment reaches.

The page-text answers (VLM calls cost money), the encoder features and the files' fingerprints
are each a table keyed as before. On one machine each is a SQLite file under
``$COMIX_HOME/cache`` (``location`` is its path); on the stack, or wherever
``COMIX_CACHE_URL`` names a PostgreSQL database (``postgresql+psycopg2://...``), all of them are
tables of that database, so a step that runs on any worker, or runs again on another one after
its first worker died, finds what an earlier step paid for.

SQLAlchemy Core gives both one code path: the table is declared once, reads are plain selects
and writes are each dialect's ``INSERT ... ON CONFLICT DO UPDATE``. A PostgreSQL engine (a pool
of at most ``POOL_SIZE + POOL_OVERFLOW`` connections) is made once per URL and process and
shared by every cache opened in it, so opening a cache per step costs no new connection, and the
stack can size PostgreSQL's connection limit from the number of processes.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import sqlalchemy as sa

POOL_SIZE = 2
POOL_OVERFLOW = 2
# IN lists are sent in chunks: SQLite's limit on bound parameters is 999 on old builds.
IN_CHUNK = 500

_shared_engines: dict[str, sa.Engine] = {}
_shared_lock = threading.Lock()


def is_database_url(location: str | os.PathLike[str] | None) -> bool:
    """True for a database URL (``postgresql+psycopg2://...``), False for a file path."""
    return location is not None and "://" in str(location)


def cache_location(cache_url: str, cache_dir: str | os.PathLike[str], file_name: str) -> str:
    """The database URL when one is configured, else the SQLite file ``cache_dir/file_name``."""
    return cache_url or str(Path(cache_dir) / file_name)


def _forget_engines_after_fork() -> None:
    # A forked child must not reuse its parent's sockets; it opens its own on first use.
    _shared_engines.clear()


os.register_at_fork(after_in_child=_forget_engines_after_fork)


def _shared_engine(url: str) -> sa.Engine:
    with _shared_lock:
        engine = _shared_engines.get(url)
        if engine is None:
            engine = sa.create_engine(
                url,
                pool_size=POOL_SIZE,
                max_overflow=POOL_OVERFLOW,
                pool_pre_ping=True,  # a server restart or an idle timeout is not an error
                pool_recycle=1800,
            )
            _shared_engines[url] = engine
        return engine


def _sqlite_engine(path: Path | None) -> sa.Engine:
    if path is None:
        # One connection for all threads: every new connection to :memory: is a new database.
        return sa.create_engine(
            "sqlite://",
            poolclass=sa.pool.StaticPool,
            connect_args={"check_same_thread": False},
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(
        f"sqlite:///{path}", connect_args={"timeout": 30, "check_same_thread": False}
    )

    @sa.event.listens_for(engine, "connect")
    def _wal(connection: Any, _record: Any) -> None:
        # WAL lets another process (a sensor, another partition's run) read while one writes.
        connection.execute("PRAGMA journal_mode=WAL")

    return engine


class CacheTable:
    """One cache: ``key`` columns to ``value`` columns, in SQLite or PostgreSQL.

    ``location`` is a SQLite file (created with its folder), a database URL, or None for a
    private in-memory database. In SQLite the table is ``sqlite_table`` (the name older cache
    files already use); in a shared database it is ``name``, so caches that each had their own
    file become distinct tables of one database.
    """

    def __init__(
        self,
        location: str | os.PathLike[str] | None,
        name: str,
        key: Mapping[str, sa.types.TypeEngine],
        value: Mapping[str, sa.types.TypeEngine],
        sqlite_table: str | None = None,
    ) -> None:
        self.shared = is_database_url(location)
        self.location = str(location) if location is not None else ":memory:"
        if self.shared:
            self.engine = _shared_engine(str(location))
        else:
            self.engine = _sqlite_engine(Path(location) if location is not None else None)
        table_name = name if self.shared else (sqlite_table or name)
        self.table = sa.Table(
            table_name,
            sa.MetaData(),
            *(sa.Column(column, kind, primary_key=True) for column, kind in key.items()),
            *(sa.Column(column, kind, nullable=False) for column, kind in value.items()),
        )
        self.key_columns = tuple(key)
        self.value_columns = tuple(value)
        # A private in-memory database is one sqlite3 connection, which threads must not use at
        # the same time; files and servers give each thread a connection of its own.
        self._one_at_a_time = threading.Lock() if location is None else contextlib.nullcontext()
        self._create()

    @contextlib.contextmanager
    def _connect(self, transaction: bool = False) -> Iterator[sa.Connection]:
        with (
            self._one_at_a_time,
            self.engine.begin() if transaction else self.engine.connect() as connection,
        ):
            yield connection

    def _create(self) -> None:
        with self._connect(transaction=True) as connection:
            if self.engine.dialect.name == "postgresql":
                # CREATE TABLE IF NOT EXISTS still collides when two workers run it at once
                # (on pg_type's unique index): take turns.
                connection.execute(sa.text("SELECT pg_advisory_xact_lock(7401616)"))
            self.table.create(connection, checkfirst=True)

    def __repr__(self) -> str:
        where = self.engine.url.render_as_string(hide_password=True) if self.shared else ""
        return f"CacheTable({self.table.name!r}, {where or self.location!r})"

    # reads ------------------------------------------------------------------------------------
    def get(self, **key: Any) -> dict[str, Any] | None:
        """The value columns of the row with this key, or None."""
        query = sa.select(*(self.table.c[c] for c in self.value_columns)).where(
            *(self.table.c[column] == key[column] for column in self.key_columns)
        )
        with self._connect() as connection:
            row = connection.execute(query).mappings().first()
        return None if row is None else dict(row)

    def get_many(
        self, fixed: Mapping[str, Any], varying: str, values: Sequence[Any]
    ) -> dict[Any, dict[str, Any]]:
        """Rows whose ``fixed`` columns match and whose ``varying`` column is any of ``values``,
        by that column's value (the remaining key columns must all be in ``fixed``)."""
        unique = list(dict.fromkeys(values))
        found: dict[Any, dict[str, Any]] = {}
        column = self.table.c[varying]
        selected = [column, *(self.table.c[c] for c in self.value_columns)]
        with self._connect() as connection:
            for start in range(0, len(unique), IN_CHUNK):
                chunk = unique[start : start + IN_CHUNK]
                query = sa.select(*selected).where(
                    *(self.table.c[name] == value for name, value in fixed.items()),
                    column.in_(chunk),
                )
                for row in connection.execute(query).mappings():
                    found[row[varying]] = {c: row[c] for c in self.value_columns}
        return found

    def count(self) -> int:
        with self._connect() as connection:
            return int(
                connection.execute(sa.select(sa.func.count()).select_from(self.table)).one()[0]
            )

    # writes -----------------------------------------------------------------------------------
    def put_many(self, rows: Iterable[Mapping[str, Any]]) -> None:
        """Insert or replace rows (each holding every key and value column)."""
        batch = [dict(row) for row in rows]
        if not batch:
            return
        with self._connect(transaction=True) as connection:
            connection.execute(self._upsert(), batch)

    def put(self, **row: Any) -> None:
        self.put_many([row])

    def _upsert(self) -> sa.Insert:
        if self.engine.dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        else:
            from sqlalchemy.dialects.sqlite import insert
        statement = insert(self.table)
        return statement.on_conflict_do_update(
            index_elements=list(self.key_columns),
            set_={column: statement.excluded[column] for column in self.value_columns},
        )

    def close(self) -> None:
        """Release this cache's connections (a shared pool stays for the process's next cache)."""
        if not self.shared:
            self.engine.dispose()
