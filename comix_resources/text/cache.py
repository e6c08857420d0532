"""The cache of successful engine answers, keyed by (page sha256, engine, model, prompt).

Only successes are stored: a page that failed is asked again on the next run, while every
page that already has an answer is served from here and costs nothing. ``location`` is a
SQLite file (one machine) or a database URL that every worker shares (``COMIX_CACHE_URL``,
PostgreSQL on the stack: a page paid for on one worker is never paid again on another);
see ``comix_resources.cache_store``. The worker threads of a cascade share one cache object.
"""

from __future__ import annotations

import json
import os
from typing import Any

import sqlalchemy as sa

from comix_resources.cache_store import CacheTable
from comix_resources.text.base import EngineAnswer, TextItem

TABLE = "page_text"
KEY = {
    "sha256": sa.String(),
    "engine": sa.String(),
    "model": sa.String(),
    "prompt_version": sa.String(),
}


class TextCache:
    """Opens (or creates) the cache, e.g. ``$COMIX_HOME/cache/page_text.sqlite``."""

    def __init__(self, location: str | os.PathLike[str]) -> None:
        self.location = location
        self._table = CacheTable(location, TABLE, KEY, {"answer": sa.Text()})

    def __getstate__(self) -> dict[str, Any]:
        return {"location": self.location}  # a worker process opens its own connections

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["location"])  # type: ignore[misc]

    def get(self, sha256: str, engine: str, model: str, prompt_version: str) -> EngineAnswer | None:
        row = self._table.get(
            sha256=sha256, engine=engine, model=model, prompt_version=prompt_version
        )
        return None if row is None else _decode(row["answer"])

    def put(
        self, sha256: str, engine: str, model: str, prompt_version: str, answer: EngineAnswer
    ) -> None:
        self._table.put(
            sha256=sha256,
            engine=engine,
            model=model,
            prompt_version=prompt_version,
            answer=_encode(answer),
        )

    def __len__(self) -> int:
        return self._table.count()

    def close(self) -> None:
        self._table.close()

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
