"""A small news site on 127.0.0.1 for tests of fetching, feeds and the bot's refresh: an RSS feed of its
articles (with ETag and Last-Modified, answering 304 to a conditional request), the article pages (with a
site name, a canonical link and a publication date in their metadata), and every bad case a crawler meets:
404, 500, a page too slow to answer, one too large, one that is not HTML, a redirect loop, a redirect to a
`file:` URL, malformed XML, a page not in the encoding it declares, a feed listing one entry twice.

Real HTTP (http.server in a thread of its own), so httpx, feedparser and trafilatura run as they would
against a real site. `requests` counts the requests per path; `add()` publishes an article.
"""

from __future__ import annotations

import contextlib
import hashlib
import html
import threading
import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

SITE_NAME = "Loopback Gazette"


@dataclass
class Story:
    """An article of the site."""

    slug: str
    title: str
    body: list[str]  # paragraphs
    published: str  # ISO date
    lang: str = "en"


# Articles the tests and benchmarks publish on the site.
HARBOUR = Story("harbour", "Harbour of Varna reopens after the storm", [
    "The harbour of Varna reopened on Tuesday after a storm closed it for three days, the port authority said.",
    "Seventeen cargo ships had waited at anchor outside the breakwater while the winds reached 110 km/h.",
    "The first ship to enter was the grain carrier Dobrudzha, which docked at the western terminal at noon.",
], "2025-09-02")
BRIDGE = Story("bridge", "New bridge over the Danube opens to traffic", [
    "A new road bridge over the Danube between Ruse and Giurgiu opened to traffic on Monday morning.",
    "The bridge is 1,400 metres long and took four years to build, at a cost of 230 million euros.",
    "Officials from both countries cut the ribbon at the middle of the span before the first lorries crossed.",
], "2025-09-01")
LIGHTHOUSE = Story("lighthouse", "Kaliakra lighthouse gets a new lamp", [
    "The lighthouse at Cape Kaliakra was fitted with a new LED lamp on Thursday, the maritime administration said.",
    "Its beam now reaches 27 nautical miles, nine more than the old lamp, and uses a tenth of the power.",
    "The lighthouse keeper, Petar Ivanov, has tended the light for thirty-one years.",
], "2025-09-04")


class NewsSite:
    """The site: start() it, read `url(path)`, publish with add(), stop() it."""

    def __init__(self, stories: list[Story] | None = None, slow_seconds: float = 3.0) -> None:
        self.stories: list[Story] = list(stories or [])
        self.slow_seconds = slow_seconds
        self.requests: Counter[str] = Counter()
        self.conditional: Counter[str] = Counter()  # requests that carried If-None-Match / If-Modified-Since
        self.user_agents: set[str] = set()
        self.times: dict[str, list[float]] = {}
        self.extra_entries: list[str] = []  # further links the feed lists (bad pages, duplicates)
        self.held: dict[str, threading.Event] = {}  # an article's page waits until its event is set
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> NewsSite:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> NewsSite:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def url(self, path: str) -> str:
        return self.base + path

    def add(self, story: Story) -> None:
        """Publish an article: the feed lists it from now on."""
        with self._lock:
            self.stories.append(story)

    # --- what the site serves ----------------------------------------------------------------

    def feed(self) -> bytes:
        items = []
        with self._lock:
            stories = list(self.stories)
            extra = list(self.extra_entries)
        for story in stories:
            date = format_datetime(datetime.fromisoformat(story.published).replace(hour=9, tzinfo=timezone.utc))
            items.append(f"<item><title>{html.escape(story.title)}</title><link>{self.url('/news/' + story.slug)}"
                         f"</link><guid>{story.slug}</guid><pubDate>{date}</pubDate></item>")
        items += [f"<item><title>{html.escape(link)}</title><link>{html.escape(self.url(link))}</link></item>"
                  for link in extra]
        return ('<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
                f"<title>{SITE_NAME}</title><link>{self.base}/</link><description>News</description>"
                + "".join(items) + "</channel></rss>").encode()

    def page(self, story: Story, canonical: str | None = None) -> bytes:
        canonical = canonical or self.url("/news/" + story.slug)
        paragraphs = "".join(f"<p>{html.escape(p)}</p>" for p in story.body)
        return (f'<!doctype html><html lang="{story.lang}"><head><meta charset="utf-8">'
                f"<title>{html.escape(story.title)} | {SITE_NAME}</title>"
                f'<meta property="og:site_name" content="{SITE_NAME}">'
                f'<meta property="og:title" content="{html.escape(story.title)}">'
                f'<link rel="canonical" href="{canonical}">'
                f'<meta property="article:published_time" content="{story.published}T09:00:00+00:00">'
                "</head><body><nav><a href='/'>Home</a> | <a href='/world'>World</a></nav>"
                f"<article><h1>{html.escape(story.title)}</h1>{paragraphs}</article>"
                "<footer>© Loopback Gazette. All rights reserved.</footer></body></html>").encode()

    def find(self, slug: str) -> Story | None:
        with self._lock:
            return next((s for s in self.stories if s.slug == slug), None)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        site = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def do_GET(self) -> None:
                path = self.path
                with site._lock:
                    site.requests[path] += 1
                    site.times.setdefault(path, []).append(time.monotonic())
                    site.user_agents.add(self.headers.get("User-Agent", ""))
                    if self.headers.get("If-None-Match") or self.headers.get("If-Modified-Since"):
                        site.conditional[path] += 1
                route = ROUTES.get(path)
                if route is not None:
                    route(self)
                elif path.startswith(("/news/", "/copy/", "/mirror/")):
                    self.article(path)
                else:
                    self.send(404, b"<html><body>Not found</body></html>")

            def send(self, status: int, body: bytes, content_type: str = "text/html; charset=utf-8",
                     headers: dict[str, str] | None = None) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # a client that gave up
                    self.wfile.write(body)

            def article(self, path: str) -> None:
                kind, slug = path.split("/")[1], path.rsplit("/", 1)[1]
                story = site.find(slug)
                if slug in site.held:
                    site.held[slug].wait(timeout=120)
                if story is None:
                    self.send(404, b"<html><body>Not found</body></html>")
                    return
                # /copy/: the same article, its canonical link naming /news/; /mirror/: the same text, no such link.
                canonical = site.url(path) if kind == "mirror" else None
                self.send(200, site.page(story, canonical))

            def feed(self) -> None:
                body = site.feed()
                etag = '"' + hashlib.sha1(body).hexdigest()[:16] + '"'
                if self.headers.get("If-None-Match") == etag:
                    self.send_response(304)
                    self.send_header("ETag", etag)
                    self.end_headers()
                    return
                self.send(200, body, "application/rss+xml; charset=utf-8",
                          {"ETag": etag, "Last-Modified": "Wed, 03 Sep 2025 09:00:00 GMT"})

            def slow(self) -> None:
                time.sleep(site.slow_seconds)
                self.send(200, b"<html><body><p>Too late.</p></body></html>")

            def huge(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.end_headers()  # no Content-Length: the size shows only while reading
                try:
                    for _ in range(64):
                        self.wfile.write(b"<p>" + b"x" * 65536 + b"</p>")
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client stopped reading at its cap

            def image(self) -> None:
                self.send(200, b"\x89PNG\r\n\x1a\n" + bytes(64), "image/png")

            def loop_a(self) -> None:
                self.send(302, b"", headers={"Location": "/loop-b"})

            def loop_b(self) -> None:
                self.send(302, b"", headers={"Location": "/loop-a"})

            def to_file(self) -> None:
                self.send(302, b"", headers={"Location": "file:///etc/passwd"})

            def bad_xml(self) -> None:
                self.send(200, b"<?xml version='1.0'?><rss><channel><item><title>Broken</ti", "application/rss+xml")

            def latin1(self) -> None:
                page = "<html><body><article><p>Café déjà vu à Noël, élève</p></article></body></html>"
                body = page.encode("latin-1")
                self.send(200, body, "text/html; charset=utf-8")

            def error(self) -> None:
                self.send(500, b"<html><body>Internal error</body></html>")

        ROUTES = {
            "/feed.xml": Handler.feed, "/slow": Handler.slow, "/huge": Handler.huge, "/image.png": Handler.image,
            "/loop-a": Handler.loop_a, "/loop-b": Handler.loop_b, "/to-file": Handler.to_file,
            "/bad.xml": Handler.bad_xml, "/latin1.html": Handler.latin1, "/broken": Handler.error,
        }
        return Handler
