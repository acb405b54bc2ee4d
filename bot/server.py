"""`newsqa serve`: the engine behind an OpenAI-compatible HTTP API (FastAPI on uvicorn), so that any chat
front end, script or shell can ask it. One Engine, opened and warmed once; answers are worked out in a
bounded pool of threads, each within a time limit; every refusal is one line of JSON in OpenAI's error
shape. The wire format (bodies, the answer as chat text, a conversation read back) is `bot/api.py`.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import os
import secrets
import socket
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from datetime import date
from typing import TYPE_CHECKING, Any, TypeVar

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response, StreamingResponse
from starlette.exceptions import HTTPException

from bot import api
from bot import formatting as fmt
from bot.i18n import LANGUAGES, translations
from retrieval.engine import QuestionError
from retrieval.index import StoreError
from retrieval.messages import first_line, strip_credentials
from retrieval.models import Answer
from retrieval.question import History

if TYPE_CHECKING:
    from retrieval.engine import Engine
    from retrieval.settings import Settings

log = logging.getLogger(__name__)
T = TypeVar("T")
GRACEFUL_SHUTDOWN_S = 10  # requests under way when the server is stopped get this long to finish


class StartupError(RuntimeError):
    """`newsqa serve` cannot start; the message says what to fix."""


def is_loopback(host: str) -> bool:
    """Whether `host` names this machine only (127.0.0.0/8, ::1, localhost)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def token_of(settings: Settings) -> str | None:
    """The bearer token the API requires, or None."""
    token = settings.api_token.get_secret_value().strip() if settings.api_token else ""
    return token or None


def workers(settings: Settings, engine: Engine) -> int:
    """Threads that answer at once: NEWSQA_API_WORKERS, else one per usable core for extractive answers
    (CPU work: more threads only interleave them, so every answer comes later; `benchmarks/bot_load.py`),
    and eight with a model, whose answers mostly wait on the network."""
    if settings.api_workers:
        return settings.api_workers
    if engine.answer_mode() == "llm":
        return 8
    return max(len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1), 1)


class Service:
    """What the routes share: the engine, the bounded pool, and how many answers are under way."""

    def __init__(self, settings: Settings, engine: Engine) -> None:
        self.settings, self.engine = settings, engine
        self.threads = workers(settings, engine)
        self.pool = ThreadPoolExecutor(max_workers=self.threads, thread_name_prefix="newsqa-api")
        self.limit = self.threads + settings.api_queue  # answers running or waiting for a thread
        self.busy = 0
        self.token = token_of(settings)
        self._about: fmt.Holdings | None = None

    @property
    def about(self) -> fmt.Holdings:
        """What the index holds, for the small-talk reply (read once)."""
        if self._about is None:
            self._about = fmt.holdings(self.engine.sources(), self.settings.example_questions)
        return self._about

    def admit(self) -> Callable[[], None]:
        """Take a place among the answers under way, or 503 when running and waiting ones fill them all.
        The place is given back by the returned callable, once the work itself has ended."""
        if self.busy >= self.limit:
            raise api.ApiError(503, f"the server is busy ({self.busy} questions under way); try again in a moment",
                               kind="server_error", code="busy", headers={"Retry-After": "1"})
        self.busy += 1
        released = False

        def release() -> None:
            nonlocal released
            if not released:
                released, self.busy = True, self.busy - 1

        return release

    async def run(self, work: Callable[[], T]) -> T:
        """`work` in the pool, within NEWSQA_API_TIMEOUT; its engine errors as API errors."""
        release = self.admit()
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self.pool, work)
        # A timed-out answer still holds its thread until it ends: its place is given back only then,
        # so the pool and the queue stay bounded by what is really running.
        future.add_done_callback(lambda _: loop.call_soon_threadsafe(release))
        try:
            return await asyncio.wait_for(asyncio.shield(future), self.settings.api_timeout)
        except asyncio.TimeoutError:
            raise timed_out(self.settings) from None
        except Exception as exc:
            error = engine_error(exc)
            if error is exc:
                raise
            raise error from exc

    def history(self, messages: list[api.Message]) -> History | None:
        """The conversation before the question, as the engine reads follow-ups (None when there is none)."""
        if not any(message.role == "user" for message in messages):
            return None
        return api.history_of(messages, History.from_settings(self.settings))

    def answer(self, question: str, messages: list[api.Message], top_k: int | None = None,
               mode: str = "auto", since: date | None = None, until: date | None = None) -> Answer:
        """The engine's answer to a question asked after `messages` (in a pool thread), from the articles
        published between `since` and `until` when given."""
        return self.engine.ask(question, top_k=top_k, mode=mode, history=self.history(messages),  # type: ignore[arg-type]
                               since=since and since.isoformat(), until=until and until.isoformat())


def engine_error(exc: BaseException) -> BaseException:
    """An engine error as the API's refusal; anything else as it is (a 500, logged)."""
    if isinstance(exc, api.ApiError):
        return exc
    if isinstance(exc, QuestionError):
        return api.ApiError(400, str(exc), code="bad_question")
    if isinstance(exc, StoreError):
        return api.ApiError(503, f"the article index is unavailable ({first_line(exc)}); try again in a minute",
                            kind="server_error", code="index_unavailable")
    return exc


def timed_out(settings: Settings) -> api.ApiError:
    """The refusal of an answer that took too long."""
    return api.ApiError(504, f"the answer took longer than NEWSQA_API_TIMEOUT={settings.api_timeout:g} s; try "
                        "again, or raise the limit", kind="server_error", code="timeout")


def error_response(error: api.ApiError) -> Response:
    """The one-line JSON body of a refusal, with its status."""
    return Response(error.body(), status_code=error.status, media_type="application/json", headers=error.headers)


def validation_message(exc: RequestValidationError) -> str:
    """A malformed body in one line: the first problem, where it is."""
    errors = exc.errors()
    first = errors[0] if errors else {}
    if first.get("type") == "json_invalid":
        return f"the request body is not valid JSON ({first.get('ctx', {}).get('error', 'cannot be parsed')})"
    where = ".".join(str(part) for part in first.get("loc", ()) if part != "body") or "the body"
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"invalid request: {where}: {first.get('msg', 'invalid')}{more}"


class JsonTooLarge:
    """FastAPI's body limit (Starlette's, outside every middleware an app adds) refuses a large body with a
    plain-text 413; the API's refusals are one line of JSON, so this wraps the whole app and replaces
    that response with ours."""

    def __init__(self, app: Any, max_kb: int) -> None:
        self.app = app
        self.error = api.ApiError(413, f"the request body is larger than NEWSQA_API_MAX_BODY_KB={max_kb} KB",
                                  code="body_too_large")

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        replaced = False

        async def sending(message: Any) -> None:
            nonlocal replaced
            if message["type"] == "http.response.start" and message["status"] == 413:
                replaced = True
                body = self.error.body()
                await send({"type": "http.response.start", "status": 413, "headers": [
                    (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
                await send({"type": "http.response.body", "body": body})
            elif not replaced:
                await send(message)

        await self.app(scope, receive, sending)


def asgi_app(settings: Settings, engine: Engine) -> JsonTooLarge:
    """What uvicorn serves: the API, every refusal in JSON."""
    return JsonTooLarge(build_app(settings, engine), settings.api_max_body_kb)


def build_app(settings: Settings, engine: Engine) -> FastAPI:
    """The API over an opened engine: warmed up before the first request, its pool shut down at the end."""
    service = Service(settings, engine)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        seconds = await asyncio.to_thread(warm_up, service)
        log.info("warmed up in %.1fs; %d threads answer, %d more questions may wait", seconds, service.threads,
                 settings.api_queue)
        try:
            yield
        finally:
            service.pool.shutdown(wait=False, cancel_futures=True)

    app = FastAPI(title="newsqa", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None,
                  max_body_size=settings.api_max_body_kb * 1024)
    app.state.service = service
    if settings.api_cors_origins:
        from starlette.middleware.cors import CORSMiddleware

        app.add_middleware(CORSMiddleware, allow_origins=settings.api_cors_origins, allow_methods=["GET", "POST"],
                           allow_headers=["Authorization", "Content-Type"])

    @app.exception_handler(api.ApiError)
    async def refused(_: Request, exc: api.ApiError) -> Response:
        return error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def malformed(_: Request, exc: RequestValidationError) -> Response:
        return error_response(api.ApiError(400, validation_message(exc)))

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        messages = {
            404: f"no such endpoint: {request.method} {request.url.path}; the API serves /v1/chat/completions, "
                 "/v1/models, /ask, /sources and /healthz",
            405: f"{request.method} is not allowed on {request.url.path}",
        }
        message = messages.get(exc.status_code, str(exc.detail))
        return error_response(api.ApiError(exc.status_code, message, code=f"http_{exc.status_code}"))

    @app.exception_handler(Exception)
    async def failed(_: Request, exc: Exception) -> Response:
        log.error("could not answer: %s: %s", type(exc).__name__, strip_credentials(first_line(exc)), exc_info=exc)
        return error_response(api.ApiError(500, f"internal error ({type(exc).__name__}); the server's log says more",
                                           kind="server_error", code="internal_error"))

    def authorised(request: Request) -> None:
        """Every route but /healthz needs `Authorization: Bearer <NEWSQA_API_TOKEN>` when a token is set."""
        if service.token is None:
            return
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not secrets.compare_digest(given.strip().encode(), service.token.encode()):
            raise api.ApiError(401, "missing or wrong API token; send Authorization: Bearer <NEWSQA_API_TOKEN>",
                               kind="authentication_error", code="invalid_api_key",
                               headers={"WWW-Authenticate": "Bearer"})

    guarded = [Depends(authorised)]

    @app.get("/healthz")
    def healthz() -> dict[str, Any]:
        """Liveness, and what is served (needs no token)."""
        return {"status": "ok", "model": api.MODEL, "chunks": service.engine.store.count(),
                "mode": service.engine.answer_mode()}

    @app.get("/v1/models", dependencies=guarded)
    def list_models() -> dict[str, Any]:
        return api.models()

    @app.get("/sources", dependencies=guarded)
    async def sources() -> list[dict[str, Any]]:
        return await service.run(service.engine.sources)

    @app.get("/latest", dependencies=guarded)
    async def latest() -> list[dict[str, Any]]:
        return await service.run(service.engine.latest)

    @app.post("/ask", dependencies=guarded)
    async def ask(body: api.AskRequest, request: Request) -> Response:
        answer = await service.run(lambda: service.answer(body.question, body.messages, body.top_k, body.mode,
                                                                  body.since, body.until))
        if "text/plain" in request.headers.get("accept", ""):
            text = await asyncio.to_thread(terminal_text, answer, service.about, body.width, body.color)
            return Response(text, media_type="text/plain; charset=utf-8")
        return Response(answer.model_dump_json(), media_type="application/json")

    @app.post("/v1/chat/completions", dependencies=guarded)
    async def chat_completions(body: api.ChatRequest) -> Response:
        if body.model != api.MODEL:
            raise api.ApiError(404, f"the model {body.model!r} does not exist; this server answers as model "
                               f"{api.MODEL!r}", code="model_not_found")
        question, thread = api.question_and_thread(body.messages)
        if body.stream:
            return await stream(service, question, thread)
        answer = await service.run(lambda: service.answer(question, thread))
        text = await asyncio.to_thread(api.render, answer, service.about)
        return Response(json_bytes(api.completion(answer, text, question)), media_type="application/json")

    return app


def terminal_text(answer: Answer, about: Callable[[], fmt.Holdings], width: int, color: bool) -> str:
    """The answer as `newsqa ask` prints it on a terminal `width` columns wide (with its ANSI colours when
    `color`): a shell asking through the server writes it out without loading rich, pydantic or typer."""
    import io

    from rich.console import Console

    from bot.cli import print_answer

    out = Console(file=io.StringIO(), record=True, width=width, force_terminal=color,
                  color_system="standard" if color else None)
    print_answer(answer, about, out)
    return out.export_text(styles=color)


def json_bytes(body: Any) -> bytes:
    import json

    return json.dumps(body, ensure_ascii=False).encode("utf-8")


async def stream(service: Service, question: str, thread: list[api.Message]) -> StreamingResponse:
    """A completion as server-sent events in OpenAI's chunk format: the role, the text as it is written,
    then a last chunk with the finish reason and, as extra fields, the citations and the whole Answer.
    A model's answer streams as it arrives; an extractive one is worked out first and sent whole (its
    errors are still HTTP statuses)."""
    ident, created = api.completion_id(), int(time.time())
    engine = service.engine
    history: History | None = None
    if engine.answer_mode() == "llm":
        # Analysed first: a question that cannot be asked is a 400 before any event; small talk is sent whole.
        history = await service.run(lambda: service.history(thread))
        analysed = await service.run(lambda: engine.analyse(question, history))
    if engine.answer_mode() != "llm" or analysed.smalltalk is not None:
        answer = await service.run(lambda: service.answer(question, thread))
        text = await asyncio.to_thread(api.render, answer, service.about)

        async def whole() -> AsyncIterator[bytes]:
            yield api.chunk(ident, created, {"role": "assistant", "content": ""})
            yield api.chunk(ident, created, {"content": text})
            yield api.chunk(ident, created, {}, "stop", usage=api.usage(question, text), **api.extras(answer))
            yield api.DONE

        return event_stream(whole())

    release = service.admit()

    async def generated() -> AsyncIterator[bytes]:
        deadline = time.monotonic() + service.settings.api_timeout
        streamed: list[str] = []
        answer: Answer | None = None
        try:
            yield api.chunk(ident, created, {"role": "assistant", "content": ""})
            pieces = engine.astream(question, history=history)
            while True:
                try:
                    item = await asyncio.wait_for(pieces.__anext__(), max(deadline - time.monotonic(), 0.001))
                except StopAsyncIteration:
                    break
                if isinstance(item, Answer):
                    answer = item
                elif item:
                    streamed.append(item)
                    yield api.chunk(ident, created, {"content": item})
            assert answer is not None
            said = "".join(streamed)
            rest = await asyncio.to_thread(api.rest_of, answer, said)
            if rest:
                yield api.chunk(ident, created, {"content": rest})
            text = said + rest
            yield api.chunk(ident, created, {}, "stop", usage=api.usage(question, text), **api.extras(answer))
        except Exception as exc:
            # The status was sent with the first event: the error travels as an event, as OpenAI's do.
            error = timed_out(service.settings) if isinstance(exc, asyncio.TimeoutError) else engine_error(exc)
            if not isinstance(error, api.ApiError):
                log.error("streaming stopped: %s: %s", type(exc).__name__, strip_credentials(first_line(exc)))
                error = api.ApiError(500, f"internal error ({type(exc).__name__})", kind="server_error")
            yield b"data: " + error.body() + b"\n\n"
        finally:
            release()
        yield api.DONE

    return event_stream(generated())


def event_stream(events: AsyncIterator[bytes]) -> StreamingResponse:
    """Server-sent events, not buffered by proxies on the way."""
    return StreamingResponse(events, media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


def warm_up(service: Service) -> float:
    """The engine and the message catalogues loaded before the first request."""
    started = time.perf_counter()
    service.engine.warm_up()
    for language in LANGUAGES:
        translations(language)
    _ = service.about
    return time.perf_counter() - started


def listening_socket(host: str, port: int) -> socket.socket:
    """The server's socket, bound here so that a port in use is one line, not uvicorn's traceback."""
    family = socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host.strip("[]"), port))
    except OSError as exc:
        sock.close()
        raise StartupError(f"cannot listen on {host}:{port} ({exc.strerror or exc}); choose another --port or "
                           "stop what holds it") from None
    sock.listen(2048)
    sock.setblocking(False)
    return sock


def check_exposure(settings: Settings, host: str) -> None:
    """Without a token the API answers anyone who can reach it: only this machine, then."""
    if token_of(settings) is None and not is_loopback(host):
        raise StartupError(f"--host {host} would let anyone on the network ask without a token; set "
                           "NEWSQA_API_TOKEN, or listen on 127.0.0.1")


def serve(settings: Settings, engine: Engine, host: str, port: int, announce: Callable[[str], None]) -> None:
    """Run the API on host:port until interrupted (SIGINT or SIGTERM: requests under way may finish)."""
    import uvicorn

    check_exposure(settings, host)
    sock = listening_socket(host, port)
    bound = sock.getsockname()[1]
    # log_config=None: uvicorn's records go through the root handlers `configure_logging` set up, which
    # redact the tokens, instead of handlers of its own.
    config = uvicorn.Config(asgi_app(settings, engine), log_config=None, timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
                            proxy_headers=False, server_header=False)
    shown = f"[{host}]" if ":" in host else host
    auth = "bearer token required" if token_of(settings) else "no token (this machine only)"
    announce(f"newsqa serve: answering at http://{shown}:{bound}/v1 as model {api.MODEL} "
             f"({engine.store.count()} chunks, {engine.answer_mode()} answers; {auth})")
    uvicorn.Server(config).run(sockets=[sock])
