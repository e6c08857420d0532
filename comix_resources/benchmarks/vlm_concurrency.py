"""Pages per second of the VLM cascade against a local OpenAI-compatible endpoint, by how many
requests are in flight.

The endpoint is a real HTTP server on 127.0.0.1 that speaks the chat-completions protocol the
OpenAI SDK speaks, answers every page after ``latency_s`` (4 s by default: a VLM reading a
page) with a valid page JSON, and takes at most ``server_capacity`` requests at once, answering
429 with a Retry-After to the rest, as a rate-limited provider does. The cascade is the real
``TextCascade`` over the real ``OpenAIEngine``. With a fixed latency, pages per second should
rise with ``max_concurrency`` up to the server's capacity, and hold there beyond it (429s are
waited out at the engine's gate, not retried blindly).
"""

from __future__ import annotations

import contextlib
import io
import json
import threading
import time
from collections.abc import Iterator, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

PAGE_ANSWER: dict[str, Any] = {
    "overall_summary": "A page.",
    "panels": [
        {
            "panel_number": 1,
            "box_2d": [0, 0, 1000, 1000],
            "caption": "",
            "description": "a panel",
            "speakers": [{"character": "Ann", "dialogue": "Hello!", "speech_type": "speech"}],
            "key_elements": [],
            "actions": [],
        }
    ],
    "characters": ["Ann"],
    "text_content": [
        {"label": "dialogue", "speaker": "Ann", "text": "Hello!", "box_2d": [10, 10, 90, 400]}
    ],
}


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 512  # listen backlog: every client thread may connect at once


class FakeVlmEndpoint:
    """``POST /v1/chat/completions`` on a free loopback port; counts requests and 429s."""

    def __init__(self, latency_s: float, server_capacity: int, retry_after_s: float = 1.0):
        self.latency_s = latency_s
        self.server_capacity = server_capacity
        self.retry_after_s = retry_after_s
        self.in_flight = 0
        self.peak_in_flight = 0
        self.requests = 0
        self.rate_limited = 0
        self._lock = threading.Lock()
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:  # quiet
                pass

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers["Content-Length"]))
                with endpoint._lock:
                    endpoint.requests += 1
                    busy = endpoint.in_flight >= endpoint.server_capacity
                    if busy:
                        endpoint.rate_limited += 1
                    else:
                        endpoint.in_flight += 1
                        endpoint.peak_in_flight = max(endpoint.peak_in_flight, endpoint.in_flight)
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    if busy:
                        body = {"error": {"message": "rate limited", "type": "rate_limit"}}
                        self._send(429, body, {"Retry-After": f"{endpoint.retry_after_s:g}"})
                        return
                    try:
                        time.sleep(endpoint.latency_s)
                    finally:
                        # The slot is free once the answer is ready: freeing it after the send
                        # raced the client's next request, which read the answer first and
                        # could be refused by a server that was in fact idle.
                        with endpoint._lock:
                            endpoint.in_flight -= 1
                    self._send(200, endpoint.completion())

            def _send(self, status: int, body: dict, headers: dict | None = None) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)

        self.httpd = _Server(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @staticmethod
    def completion() -> dict[str, Any]:
        return {
            "id": "chatcmpl-bench",
            "object": "chat.completion",
            "created": 1700000000,
            "model": "bench-vlm",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": json.dumps(PAGE_ANSWER)},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 1000, "completion_tokens": 100, "total_tokens": 1100},
        }

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    @contextlib.contextmanager
    def running(self) -> Iterator[FakeVlmEndpoint]:
        self._thread.start()
        try:
            yield self
        finally:
            self.httpd.shutdown()
            self.httpd.server_close()


def _pages(count: int, offset: int = 0) -> list[Any]:
    """Distinct small PNG pages (each its own sha256, so no cache could answer twice)."""
    from PIL import Image

    from comix_resources.text import PageInput

    pages = []
    for i in range(offset, offset + count):
        buffer = io.BytesIO()
        Image.new("RGB", (64, 96), (i % 256, (i // 256) % 256, 200)).save(buffer, "PNG")
        pages.append(PageInput(f"page-{i:04d}", buffer.getvalue(), width=64, height=96))
    return pages


def run_vlm_concurrency_benchmark(
    concurrencies: Sequence[int] = (1, 4, 16, 32, 64),
    latency_s: float = 4.0,
    server_capacity: int = 32,
    pages_per_slot: int = 2,
    retry_after_s: float = 1.0,
) -> dict[str, Any]:
    """For each ``max_concurrency``: pages, seconds, pages/s, requests, 429s, peak in flight."""
    from comix_resources.text import OpenAIEngine, TextCascade

    rows = []
    for concurrency in concurrencies:
        endpoint = FakeVlmEndpoint(latency_s, server_capacity, retry_after_s)
        pages = _pages(max(4, pages_per_slot * concurrency))
        with endpoint.running():
            engine = OpenAIEngine(
                endpoint.base_url,
                "bench-vlm",
                api_key_env=None,
                timeout_s=latency_s * 10,
                max_retries=8,
                base_delay_s=0.5,
                max_image_side=None,
            )
            warm = _pages(1, offset=60_000)[0]
            engine.extract(warm.image, 64, 96)  # the SDK's import and client, off the clock
            endpoint.requests = 0
            cascade = TextCascade([engine], max_concurrency=concurrency, seed=7)
            started = time.perf_counter()
            results = cascade.extract_pages(pages)
            elapsed = time.perf_counter() - started
        rows.append(
            {
                "max_concurrency": concurrency,
                "pages": len(pages),
                "ok": sum(r.status == "ok" for r in results),
                "seconds": round(elapsed, 2),
                "pages_per_s": round(len(pages) / elapsed, 3),
                "ideal_pages_per_s": round(min(concurrency, server_capacity) / latency_s, 3),
                "requests": endpoint.requests,
                "rate_limited_429": endpoint.rate_limited,
                "peak_in_flight": endpoint.peak_in_flight,
            }
        )
    return {
        "benchmark": "vlm_concurrency",
        "latency_s": latency_s,
        "server_capacity": server_capacity,
        "rows": rows,
    }


def format_vlm_report(report: dict[str, Any]) -> str:
    header = list(report["rows"][0]) if report["rows"] else []
    lines = [
        f"VLM cascade vs a local endpoint: {report['latency_s']:g} s per page, at most "
        f"{report['server_capacity']} requests at once (429 + Retry-After beyond)",
        " | ".join(header),
    ]
    lines += [" | ".join(str(row[k]) for k in header) for row in report["rows"]]
    return "\n".join(lines)
