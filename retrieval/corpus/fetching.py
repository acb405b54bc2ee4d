"""Fetching pages and feeds over HTTP with httpx, politely and within limits: connect and read timeouts, a
size cap, a redirect limit, a content-type check, an honest User-Agent, conditional GET (ETag /
Last-Modified) and a pause between two requests to one host. Only http(s); an address that is loopback,
private, link-local or otherwise not public is refused, at the first request and after every redirect,
unless NEWSQA_ALLOW_PRIVATE_URLS is on. Every failure is a `FetchError` whose message is one line.
"""

from __future__ import annotations

import ipaddress
import json
import os
import socket
import time
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx

from retrieval.settings import Settings

PAGE_TYPES = ("text/html", "application/xhtml+xml")
FEED_TYPES = ("application/rss+xml", "application/atom+xml", "application/rdf+xml", "application/xml", "text/xml")


class FetchError(Exception):
    """A page or feed that could not be fetched; the message says why in a few words."""


@dataclass(frozen=True)
class Fetched:
    """A response that passed every check: its final address, its body, and what the server said of it."""

    url: str  # after redirects
    status: int  # 200, or 304 when a conditional request found it unchanged (then `data` is empty)
    data: bytes
    content_type: str
    charset: str | None
    validators: dict[str, str]  # the ETag and Last-Modified to send next time


def user_agent(settings: Settings) -> str:
    """The User-Agent sent with every request: NEWSQA_USER_AGENT, else what newsqa is and which version."""
    if settings.user_agent.strip():
        return settings.user_agent.strip()
    try:
        release = version("newsqa")
    except PackageNotFoundError:
        release = "dev"
    return f"newsqa/{release} (news question-answering bot; reads feeds and the articles they link)"


class Validators:
    """The ETag and Last-Modified of each URL fetched before, kept in a JSON file beside the pages."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            loaded = json.loads(path.read_text("utf-8"))
        except (OSError, ValueError):
            loaded = {}
        self._by_url: dict[str, dict[str, str]] = loaded if isinstance(loaded, dict) else {}
        self._changed = False

    def get(self, url: str) -> dict[str, str]:
        """What to send to ask for `url` only if it changed."""
        return dict(self._by_url.get(url, {}))

    def put(self, url: str, validators: dict[str, str]) -> None:
        """Remember a response's validators (an empty dict forgets them)."""
        if self._by_url.get(url, {}) != validators:
            self._by_url[url] = validators
            self._changed = True

    def save(self) -> None:
        """Write the file (whole, or not at all) when something changed."""
        if not self._changed:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_name(self.path.name + ".partial")
        partial.write_text(json.dumps(self._by_url, indent=1, sort_keys=True), "utf-8")
        os.replace(partial, self.path)
        self._changed = False


class Fetcher:
    """One httpx client for a run: every request checked, limited and spaced per host."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.limit = round(settings.fetch_max_mb * 1_000_000)
        self.client = httpx.Client(
            timeout=httpx.Timeout(settings.fetch_timeout),
            follow_redirects=False,  # followed here, so that every hop's address is checked
            headers={"User-Agent": user_agent(settings)},
        )
        self._last_request: dict[str, float] = {}

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.client.close()

    def get(self, url: str, accept: tuple[str, ...], validators: dict[str, str] | None = None) -> Fetched:
        """GET `url`, following at most NEWSQA_FETCH_MAX_REDIRECTS redirects; FetchError when it fails."""
        seen: list[str] = []
        current = url
        while True:
            check_address(current, self.settings.allow_private_urls)
            if current in seen:
                raise FetchError(f"redirects in a loop ({' → '.join([*seen, current])})")
            seen.append(current)
            response = self._request(current, accept, validators)
            if isinstance(response, str):
                if len(seen) > self.settings.fetch_max_redirects:
                    raise FetchError(
                        f"redirects more than {self.settings.fetch_max_redirects} times (NEWSQA_FETCH_MAX_REDIRECTS)"
                    )
                current = response
                continue
            return response

    def _request(self, url: str, accept: tuple[str, ...], validators: dict[str, str] | None) -> Fetched | str:
        """One request: the response, or the address a redirect points to."""
        self._wait_for(url)
        headers = {"Accept": ", ".join(accept) + ", */*;q=0.1"}
        if validators:
            if validators.get("etag"):
                headers["If-None-Match"] = validators["etag"]
            if validators.get("last_modified"):
                headers["If-Modified-Since"] = validators["last_modified"]
        try:
            with self.client.stream("GET", url, headers=headers) as response:
                if response.status_code == 304:  # httpx counts it among redirects
                    return Fetched(url, 304, b"", "", None, validators or {})
                if response.is_redirect:
                    location = response.headers.get("location", "")
                    if not location:
                        raise FetchError(f"answered {response.status_code} without a Location")
                    return urljoin(url, location)
                if response.status_code >= 400:
                    raise FetchError(f"answered HTTP {response.status_code} {response.reason_phrase}".rstrip())
                content_type = response.headers.get("content-type", "")
                kind = content_type.split(";")[0].strip().lower()
                if kind not in accept:
                    raise FetchError(f"is {kind or 'of no stated type'}, not {' or '.join(accept[:2])}")
                data = self._body(response)
                kept = {"etag": response.headers.get("etag", ""),
                        "last_modified": response.headers.get("last-modified", "")}
                return Fetched(str(response.url), response.status_code, data, kind, response.charset_encoding,
                               {k: v for k, v in kept.items() if v})
        except httpx.TimeoutException as exc:
            seconds = self.settings.fetch_timeout
            raise FetchError(f"timed out after {seconds:g}s (NEWSQA_FETCH_TIMEOUT; {type(exc).__name__})") from exc
        except httpx.HTTPError as exc:
            raise FetchError(f"could not be fetched ({type(exc).__name__}: {exc})") from exc

    def _body(self, response: httpx.Response) -> bytes:
        """The body, refused as soon as it is known to exceed the size cap (never read past it)."""
        too_big = FetchError(f"is larger than {self.settings.fetch_max_mb:g} MB (NEWSQA_FETCH_MAX_MB)")
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.limit:
            raise too_big
        data = bytearray()
        longest = 6 * self.settings.fetch_timeout
        deadline = time.monotonic() + longest  # a server dripping bytes forever
        for piece in response.iter_bytes():
            data += piece
            if len(data) > self.limit:
                raise too_big
            if time.monotonic() > deadline:
                raise FetchError(f"took longer than {longest:g}s to send (NEWSQA_FETCH_TIMEOUT)")
        return bytes(data)

    def _wait_for(self, url: str) -> None:
        """Keep NEWSQA_FETCH_DELAY_SECONDS between two requests to one host."""
        host = (urlsplit(url).hostname or "").lower()
        last = self._last_request.get(host)
        if last is not None:
            pause = self.settings.fetch_delay_seconds - (time.monotonic() - last)
            if pause > 0:
                time.sleep(pause)
        self._last_request[host] = time.monotonic()


def check_address(url: str, allow_private: bool) -> None:
    """FetchError unless `url` is http(s) with a host whose every address is public (or private ones are allowed)."""
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https"):
        raise FetchError(f"is not an http(s) address ({parts.scheme or 'no scheme'}:); only web pages are fetched")
    host = parts.hostname
    if not host:
        raise FetchError("has no host name")
    if allow_private:
        return
    try:
        port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, ValueError) as exc:
        raise FetchError(f"has a host name that does not resolve ({host}: {exc})") from exc
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%")[0])
        if not address.is_global:
            raise FetchError(
                f"leads to {host} at {address}, a loopback, private or link-local address, which is not fetched "
                "(set NEWSQA_ALLOW_PRIVATE_URLS=true to allow it)"
            )


def text_of(fetched: Fetched) -> str:
    """The body decoded by the charset the server declared (UTF-8 when it declared none); FetchError
    when the bytes are not in that encoding."""
    charset = fetched.charset or "utf-8"
    try:
        return fetched.data.decode(charset)
    except LookupError as exc:
        raise FetchError(f"declares an unknown charset {charset!r}") from exc
    except UnicodeDecodeError as exc:
        raise FetchError(f"is not valid {charset} as it declares (byte {exc.start})") from exc


def headers_of(fetched: Fetched) -> dict[str, Any]:
    """Response headers as feedparser takes them (its encoding detection reads the content type)."""
    content_type = fetched.content_type + (f"; charset={fetched.charset}" if fetched.charset else "")
    return {"content-type": content_type, "content-location": fetched.url}
