"""Regenerate ``calibre_schema.sql`` from a metadata.db written by real calibre.

Run once by hand (the generator never reads a real library at runtime)::

    python -m comix_resources.demo.dump_calibre_schema /path/to/metadata.db

It copies every ``CREATE`` statement (tables, virtual tables, indexes, views, triggers) in
creation order, leaving out what SQLite makes by itself (``sqlite_sequence``, automatic
indexes, FTS5 shadow tables), and ends with the ``PRAGMA user_version`` calibre checks.
"""

from __future__ import annotations

import sqlite3
import sys
from pathlib import Path

SCHEMA_PATH = Path(__file__).with_name("calibre_schema.sql")


def dump_schema(db_path: Path) -> str:
    con = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        rows = con.execute("SELECT type, name, sql FROM sqlite_master ORDER BY rowid").fetchall()
        (user_version,) = con.execute("PRAGMA user_version").fetchone()
    finally:
        con.close()
    virtual = [name for kind, name, sql in rows if sql and sql.startswith("CREATE VIRTUAL")]
    parts = [
        "-- Schema of a calibre 6.13 library (metadata.db), dumped by dump_calibre_schema.py.",
        "-- Executed with sqlite3.executescript by comix_resources.demo.calibre.",
    ]
    for kind, name, sql in rows:
        if sql is None or name == "sqlite_sequence":
            continue
        shadow = kind == "table" and not sql.startswith("CREATE VIRTUAL")
        if shadow and any(name.startswith(v + "_") for v in virtual):
            continue  # FTS5 shadow table, created by its virtual table
        parts.append(sql.strip() + ";")
    parts.append(f"PRAGMA user_version = {user_version};")
    return "\n\n".join(parts) + "\n"


def main(argv: list[str]) -> None:
    SCHEMA_PATH.write_text(dump_schema(Path(argv[1])), encoding="utf-8")
    print(f"wrote {SCHEMA_PATH}")


if __name__ == "__main__":
    main(sys.argv)
