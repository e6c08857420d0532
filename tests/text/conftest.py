"""Helpers for the text tests: stub engines, tiny pages, and a misbehaving OpenAI server."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import json
import socket
import threading
import time
from collections import defaultdict, deque
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from PIL import Image

from comix_resources.text import EngineAnswer, EngineError, PageInput, TextItem

VLM_ANSWER: dict[str, Any] = {
    "overall_summary": "Ann asks Bob about the key.",
    "panels": [
        {
            "panel_number": 1,
            "box_2d": [0, 0, 500, 1000],
            "caption": "Meanwhile...",
            "description": "Ann in a room.",
            "speakers": [
                {"character": "Ann", "dialogue": "Where is the key?", "speech_type": "speech"}
            ],
            "key_elements": ["key"],
            "actions": ["asking"],
        }
    ],
    "characters": ["Ann", "Bob"],
    "text_content": [
        {"label": "caption", "speaker": None, "text": "Meanwhile...", "box_2d": [10, 20, 60, 400]},
        {
            "label": "speech",
            "speaker": "Ann",
            "text": "Where is the key?",
            "box_2d": [100, 500, 200, 900],
        },
        {"label": "sound_effect", "speaker": None, "text": "BOOM!", "box_2d": [600, 100, 700, 500]},
    ],
}


def png_page(color: tuple[int, int, int], size: tuple[int, int] = (40, 60)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, "PNG")
    return buf.getvalue()


def page(page_id: str, color: tuple[int, int, int]) -> PageInput:
    """A tiny page whose bytes (hence sha256) differ by colour: 40x60 pixels."""
    return PageInput(page_id, png_page(color))


class StubEngine:
    """A scripted local engine: answers ``items`` or raises the next error of ``errors``."""

    max_retries = 0
    base_delay_s = 0.0

    def __init__(self, name: str = "stub", errors: list[EngineError] | None = None) -> None:
        self.name = name
        self.model = f"{name}-model"
        self.errors = deque(errors or [])
        self.calls = 0

    def extract(self, image_bytes: bytes, width: int, height: int) -> EngineAnswer:
        self.calls += 1
        if self.errors:
            raise self.errors.popleft()
        return EngineAnswer((TextItem(f"read by {self.name}", "dialogue", (0, 0, width, height)),))


class FakeVlmServer:
    """An OpenAI chat-completions server that misbehaves on purpose, per page.

    ``script(image_bytes, *behaviours)`` queues behaviours for the page whose image is
    ``image_bytes`` (matched by the sha256 of the inline data URL); a page with nothing
    queued gets "ok". Behaviours: ok, 500, 429, truncated, wrong_schema, slow, empty.
    """

    def __init__(self) -> None:
        self.scripts: dict[str, deque[str]] = defaultdict(deque)
        self.requests: list[dict[str, Any]] = []
        self.slow_s = 1.5
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # keep pytest output clean
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                url = body["messages"][0]["content"][1]["image_url"]["url"]
                image = base64.b64decode(url.split(",", 1)[1])
                queue = server.scripts[hashlib.sha256(image).hexdigest()]
                behaviour = queue.popleft() if queue else "ok"
                server.requests.append(
                    {
                        "path": self.path,
                        "authorization": self.headers.get("Authorization"),
                        "model": body["model"],
                        "behaviour": behaviour,
                    }
                )
                # the client may have given up (timeout) before the answer is written
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    server.respond(self, behaviour, body["model"])

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        # a short poll interval: shutdown() waits for one
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def script(self, image: bytes, *behaviours: str) -> None:
        self.scripts[hashlib.sha256(image).hexdigest()].extend(behaviours)

    def calls(self, behaviour: str | None = None) -> int:
        return sum(behaviour in (None, r["behaviour"]) for r in self.requests)

    def respond(self, handler: BaseHTTPRequestHandler, behaviour: str, model: str) -> None:
        if behaviour in ("500", "429"):
            # the error body echoes the key, as some providers do: it must not reach a log
            echo = handler.headers.get("Authorization")
            error = {"error": {"message": f"scripted {behaviour} for {echo}", "type": "server"}}
            self._send(handler, int(behaviour), error, {"Retry-After": "0"})
            return
        content: str | None = json.dumps(VLM_ANSWER)
        finish = "stop"
        if behaviour == "truncated":
            content, finish = content[: len(content) // 2], "length"
        elif behaviour == "wrong_schema":
            content = json.dumps({"summary": "a page", "panels": "none"})
        elif behaviour == "empty":
            content = ""
        elif behaviour == "slow":
            time.sleep(self.slow_s)
        completion = {
            "id": "chatcmpl-test",
            "object": "chat.completion",
            "created": 1700000000,
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content},
                    "finish_reason": finish,
                }
            ],
            "usage": {"prompt_tokens": 1000, "completion_tokens": 200, "total_tokens": 1200},
        }
        self._send(handler, 200, completion)

    @staticmethod
    def _send(
        handler: BaseHTTPRequestHandler,
        status: int,
        body: dict[str, Any],
        headers: dict[str, str] | None = None,
    ) -> None:
        data = json.dumps(body).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            handler.send_header(key, value)
        handler.end_headers()
        handler.wfile.write(data)


@pytest.fixture
def vlm_server() -> Iterator[FakeVlmServer]:
    server = FakeVlmServer()
    server.thread.start()
    try:
        yield server
    finally:
        server.httpd.shutdown()
        server.httpd.server_close()
        server.thread.join(timeout=5)


@pytest.fixture
def closed_port() -> int:
    """A local port with nothing listening (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
