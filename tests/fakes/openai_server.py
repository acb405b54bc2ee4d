"""A scripted OpenAI-compatible server on 127.0.0.1 for tests: `/v1/chat/completions`, plain and
streamed (SSE), with recorded requests and scriptable faults.

The real `openai` client (through llama-index) talks to it over HTTP, so the tests exercise the
same code path as a real endpoint. Replies are taken from a queue (`script`), or computed from
the request by a `responder` once the queue is empty.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Reply:
    """What the fake model does with one request."""

    content: str | None = ""  # the assistant message; None sends `"content": null`
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: str | None = None  # raw response body, sent instead of a completion (malformed replies)
    delay: float = 0.0  # seconds before anything is sent (timeouts)
    chunk_chars: int = 7  # streamed content is cut into pieces this long
    piece_delay: float = 0.0  # streaming: seconds between pieces (a slow trickle)
    drop_after: int | None = None  # streaming: close the connection after this many pieces
    finish_reason: str = "stop"  # "length": the reply stopped at max_tokens
    # (token, logprob) alternatives for the first token, returned when the request asks for logprobs
    logprobs: list[tuple[str, float]] | None = None


def error(status: int, message: str, retry_after: str | None = None) -> Reply:
    """An OpenAI-style error response."""
    headers = {"Retry-After": retry_after} if retry_after is not None else {}
    body = json.dumps({"error": {"message": message, "type": "fake_error", "code": status}})
    return Reply(status=status, headers=headers, body=body)


@dataclass
class Recorded:
    """One request the fake server received."""

    path: str
    headers: dict[str, str]
    body: dict[str, Any]

    @property
    def messages(self) -> list[dict[str, Any]]:
        """The chat messages sent."""
        return list(self.body.get("messages", []))

    def text(self, role: str) -> str:
        """All message contents of one role, joined."""
        return "\n".join(_content(m) for m in self.messages if m.get("role") == role)


def _content(message: dict[str, Any]) -> str:
    content = message.get("content")
    if isinstance(content, list):  # content parts
        return "".join(part.get("text", "") for part in content if isinstance(part, dict))
    return str(content or "")


Responder = Callable[[Recorded], "Reply | str"]


class FakeOpenAI:
    """Start with `with FakeOpenAI() as server:`; point `OPENAI_BASE_URL` at `server.base_url`."""

    def __init__(self, responder: Responder | None = None, model: str = "fake-model") -> None:
        self.responder = responder
        self.model = model
        self.requests: list[Recorded] = []
        self._queue: deque[Reply] = deque()
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        """The OpenAI-style base URL (ends in /v1)."""
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/v1"

    def script(self, *replies: Reply | str) -> FakeOpenAI:
        """Queue replies for the next requests, in order."""
        with self._lock:
            self._queue.extend(Reply(content=r) if isinstance(r, str) else r for r in replies)
        return self

    def next_reply(self, request: Recorded) -> Reply:
        """The scripted reply for a request: the queue first, then the responder."""
        with self._lock:
            self.requests.append(request)
            if self._queue:
                return self._queue.popleft()
        if self.responder is None:
            return error(500, "the fake server has no scripted reply left")
        reply = self.responder(request)
        return Reply(content=reply) if isinstance(reply, str) else reply

    def __enter__(self) -> FakeOpenAI:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


def _completion(model: str, content: str | None, finish_reason: str = "stop",
                logprobs: list[tuple[str, float]] | None = None) -> dict[str, Any]:
    choice: dict[str, Any] = {
        "index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": finish_reason,
    }
    if logprobs:
        alternatives = [{"token": token, "logprob": value, "bytes": None} for token, value in logprobs]
        choice["logprobs"] = {"content": [{**alternatives[0], "top_logprobs": alternatives}]}
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [choice],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }


def _chunk(model: str, delta: dict[str, Any], finish: str | None = None) -> bytes:
    payload = {
        "id": "chatcmpl-fake",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    return f"data: {json.dumps(payload, ensure_ascii=False)}\n\n".encode()


def _handler(fake: FakeOpenAI) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # keep pytest output clean
            pass

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length)
            try:
                body = json.loads(raw or b"{}")
            except json.JSONDecodeError:
                body = {"unparsed": raw.decode("utf-8", "replace")}
            request = Recorded(path=self.path, headers=dict(self.headers.items()), body=body)
            if self.path.rstrip("/") != "/v1/chat/completions":
                self._send(404, json.dumps({"error": {"message": f"no route {self.path}"}}))
                return
            reply = fake.next_reply(request)
            if reply.delay:
                time.sleep(reply.delay)
            if reply.body is not None or reply.status != 200:
                self._send(reply.status, reply.body or "", reply.headers)
            elif body.get("stream"):
                self._stream(reply)
            else:
                asked = bool(body.get("logprobs"))
                completion = _completion(fake.model, reply.content, reply.finish_reason,
                                         reply.logprobs if asked else None)
                self._send(200, json.dumps(completion, ensure_ascii=False))

        def _send(self, status: int, body: str, headers: dict[str, str] | None = None) -> None:
            data = body.encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (timeout tests)

        def _stream(self, reply: Reply) -> None:
            text = reply.content or ""
            pieces = [text[i : i + reply.chunk_chars] for i in range(0, len(text), reply.chunk_chars)]
            try:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Cache-Control", "no-cache")
                self.end_headers()
                self.wfile.write(_chunk(fake.model, {"role": "assistant", "content": ""}))
                for n, piece in enumerate(pieces):
                    if reply.drop_after is not None and n >= reply.drop_after:
                        self.wfile.flush()
                        self.close_connection = True
                        return  # no [DONE]: the connection just ends
                    if reply.piece_delay:
                        time.sleep(reply.piece_delay)
                    self.wfile.write(_chunk(fake.model, {"content": piece}))
                    self.wfile.flush()
                self.wfile.write(_chunk(fake.model, {}, finish=reply.finish_reason))
                self.wfile.write(b"data: [DONE]\n\n")
                self.wfile.flush()
            except (BrokenPipeError, ConnectionResetError):
                pass

    return Handler
