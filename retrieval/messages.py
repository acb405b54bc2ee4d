"""Short, safe text for one-line messages: an exception's first line, a URL without its credentials."""

from __future__ import annotations

import os
import re
from urllib.parse import urlsplit, urlunsplit

# user:password@ (or a bare token@) inside any URL in a text; the scheme keeps it from matching e-mail addresses.
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s@]+@")


def first_line(exc: BaseException, limit: int = 160) -> str:
    """The first line of an exception's message, cut to `limit` characters (its class name if it has none)."""
    lines = str(exc).strip().splitlines()
    return lines[0][:limit] if lines else type(exc).__name__


def safe_url(url: str | None) -> str:
    """`url` with any `user:password@` and credential-looking query parameters removed, for display."""
    if not url:
        return ""
    try:
        parts = urlsplit(url)
    except ValueError:
        return strip_credentials(url)
    netloc = parts.netloc.rsplit("@", 1)[-1]
    query = "&".join(
        pair for pair in parts.query.split("&") if pair and not _SECRET_PARAM.match(pair.split("=", 1)[0])
    )
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def strip_credentials(text: str) -> str:
    """Every URL in `text` without its `user:password@` part (for log lines and error messages)."""
    return _USERINFO.sub(r"\1", text)


_SECRET_PARAM = re.compile(r"(?i)^(api[_-]?key|key|token|access[_-]?token|password|secret|sig|signature)$")


def shown_path(path: object) -> str:
    """A path as text that can always be printed: bytes of a name that are not UTF-8 shown as `\\xff`."""
    return os.fsencode(str(path)).decode("utf-8", "backslashreplace")


def server_url_problem(url: str) -> str | None:
    """Why `url` cannot be a newsqa server's address (NEWSQA_SERVER_URL), or None when it can: an http or
    https URL with a host, e.g. http://127.0.0.1:8000."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        return f"is not a URL ({exc}); use e.g. http://127.0.0.1:8000"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "must be an http or https URL with a host, e.g. http://127.0.0.1:8000"
    if port == 0:
        return "names port 0; use the port `newsqa serve` listens on, e.g. http://127.0.0.1:8000"
    return None
