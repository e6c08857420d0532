"""A SQLite cache of successful engine answers, keyed by (page sha256, engine, model, prompt).

Only successes are stored: a page that failed is asked again on the next run, while every
page that already has an answer is served from here and costs nothing. One file shared by
the worker threads of a cascade, so access is serialised with a lock; WAL lets other
processes (another partition's run) read while one writes.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path
from typing import Any

from comix_resources.text.base import EngineAnswer, TextItem

_SCHEMA = """
CREATE TABLE IF NOT EXISTS page_text (
    sha256 TEXT NOT NULL,
    engine TEXT NOT NULL,
    model TEXT NOT NULL,
    prompt_version TEXT NOT NULL,
    answer TEXT NOT NULL,
    PRIMARY KEY (sha256, engine, model, prompt_version)
)
"""


class TextCache:
    """Opens (or creates) the SQLite file, e.g. ``$COMIX_HOME/cache/page_text.sqlite``."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(_SCHEMA)
        self._db.commit()

    def __getstate__(self) -> dict[str, Any]:
        return {"path": self.path}  # a worker process opens its own connection

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["path"])  # type: ignore[misc]

    def get(self, sha256: str, engine: str, model: str, prompt_version: str) -> EngineAnswer | None:
        with self._lock:
            row = self._db.execute(
                "SELECT answer FROM page_text"
                " WHERE sha256 = ? AND engine = ? AND model = ? AND prompt_version = ?",
                (sha256, engine, model, prompt_version),
            ).fetchone()
        return None if row is None else _decode(row[0])

    def put(
        self, sha256: str, engine: str, model: str, prompt_version: str, answer: EngineAnswer
    ) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO page_text VALUES (?, ?, ?, ?, ?)",
                (sha256, engine, model, prompt_version, _encode(answer)),
            )
            self._db.commit()

    def __len__(self) -> int:
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM page_text").fetchone()[0]

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> TextCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _encode(answer: EngineAnswer) -> str:
    data: dict[str, Any] = {
        "items": [item.to_json() for item in answer.items],
        "vlm": answer.vlm,
        "prompt_tokens": answer.prompt_tokens,
        "completion_tokens": answer.completion_tokens,
        "cost_usd": answer.cost_usd,
    }
    return json.dumps(data, sort_keys=True)


def _decode(text: str) -> EngineAnswer:
    data = json.loads(text)
    return EngineAnswer(
        items=tuple(TextItem.from_json(item) for item in data["items"]),
        vlm=data["vlm"],
        prompt_tokens=data["prompt_tokens"],
        completion_tokens=data["completion_tokens"],
        cost_usd=data["cost_usd"],
    )
