"""A local OpenAI-compatible VLM endpoint whose answers take a set time: what the scale-out
benchmark and the stack's tests pay instead of a real provider.

It speaks ``POST /v1/chat/completions`` as the OpenAI SDK sends it (the page inline as a base64
data URL) and answers every page with the same valid CoMix page-text JSON after ``latency_s``,
many requests at once, as a remote provider does: a latency-bound workload, which shows whether
work spreads over workers on a machine with few cores. It counts the answers it delivered per
page (the sha256 of the image sent), which is what a provider bills; ``hold()`` keeps new
requests waiting, so a test can kill a worker while some are in flight, and ``release()``
answers those with 503 (never a billable answer).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

# One panel with a caption, a speech balloon and a sound effect, boxes in 0-1000 units.
ANSWER: dict[str, Any] = {
    "overall_summary": "A hero watches the city.",
    "panels": [
        {
            "panel_number": 1,
            "box_2d": [0, 0, 1000, 1000],
            "caption": "Meanwhile...",
            "description": "A hero on a roof.",
            "speakers": [
                {"character": "Hero", "dialogue": "Quiet night.", "speech_type": "speech"}
            ],
            "key_elements": ["roof"],
            "actions": ["watching"],
        }
    ],
    "characters": ["Hero"],
    "text_content": [
        {"label": "caption", "speaker": None, "text": "Meanwhile...", "box_2d": [20, 20, 80, 400]},
        {
            "label": "speech",
            "speaker": "Hero",
            "text": "Quiet night.",
            "box_2d": [100, 500, 200, 900],
        },
        {"label": "sound_effect", "speaker": None, "text": "VRRM", "box_2d": [700, 100, 800, 400]},
    ],
}


class FakeVlmEndpoint:
    """``with FakeVlmEndpoint(latency_s=0.5) as vlm:`` serves on ``vlm.base_url``."""

    def __init__(self, latency_s: float = 0.0, host: str = "127.0.0.1", port: int = 0) -> None:
        self.latency_s = latency_s
        self.answered: Counter[str] = Counter()  # page sha256 -> 200 answers delivered
        self.received: Counter[str] = Counter()  # page sha256 -> requests
        self._lock = threading.Lock()
        self._open = threading.Event()
        self._open.set()
        self._held: list[tuple[str, int]] = []
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as the SDK's client expects

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                endpoint._answer(self, body)

        self.httpd = _QuietServer((host, port), Handler)
        self.httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def base_url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}/v1"

    def start(self) -> FakeVlmEndpoint:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.release()
        self.httpd.shutdown()
        self.httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> FakeVlmEndpoint:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # what a test controls and reads ---------------------------------------------------------
    def hold(self) -> None:
        """Requests from now on wait (in flight, unanswered) until ``release()``."""
        self._open.clear()

    def release(self) -> None:
        """Answer the waiting requests with 503 and serve normally again."""
        self._open.set()

    @property
    def held(self) -> int:
        with self._lock:
            return len(self._held)

    @property
    def held_from(self) -> list[tuple[str, int]]:
        """The (host, port) each waiting request came from: which client is waiting."""
        with self._lock:
            return list(self._held)

    @property
    def answers(self) -> int:
        with self._lock:
            return sum(self.answered.values())

    def paid_twice(self) -> list[str]:
        """Pages answered more than once."""
        with self._lock:
            return sorted(sha for sha, count in self.answered.items() if count > 1)

    # serving ----------------------------------------------------------------------------------
    def _answer(self, handler: BaseHTTPRequestHandler, body: dict[str, Any]) -> None:
        url = body["messages"][0]["content"][1]["image_url"]["url"]
        sha = hashlib.sha256(base64.b64decode(url.split(",", 1)[1])).hexdigest()
        with self._lock:
            self.received[sha] += 1
        if not self._open.is_set():
            address = tuple(handler.client_address[:2])
            with self._lock:
                self._held.append(address)  # type: ignore[arg-type]
            self._open.wait()
            with self._lock:
                self._held.remove(address)  # type: ignore[arg-type]
            with contextlib.suppress(OSError):  # its client may be gone
                _send(handler, 503, {"error": {"message": "held", "type": "server"}})
            return
        time.sleep(self.latency_s)
        completion = {
            "id": "chatcmpl-fake",
            "object": "chat.completion",
            "created": 1700000000,
            "model": body["model"],
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": json.dumps(ANSWER)},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 1000, "completion_tokens": 200, "total_tokens": 1200},
        }
        try:
            _send(handler, 200, completion)
        except OSError:
            return  # the client died before the answer left: nothing delivered
        with self._lock:
            self.answered[sha] += 1


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True
    # A real server's accept queue (uvicorn's is 2048), as vlm_concurrency's endpoint has: with
    # socketserver's default of 5, a client keeping 32 requests in flight on a busy machine had
    # connections reset (seen as pages failed with connection_error in the scale-out test).
    request_queue_size = 512

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that died mid-request (a killed worker) is expected here, not an error.
        import sys

        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


def _send(handler: BaseHTTPRequestHandler, status: int, body: dict[str, Any]) -> None:
    data = json.dumps(body).encode()
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data)
    handler.wfile.flush()
