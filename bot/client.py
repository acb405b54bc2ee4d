"""The command line's side of `newsqa serve`: where the server is (NEWSQA_SERVER_URL) and one request to
it. This is the path of a cold `newsqa ask` answered by a server in about 0.2 s, so it
imports only the standard library: the settings are read from the environment and `.env` without
pydantic-settings (whose import alone would take a third of that budget), and requests go through
urllib (httpx's import costs 70-90 ms more). `tests/test_cli.py` checks what this path imports.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from retrieval.messages import safe_url, server_url_problem

ENV_FILE = Path(".env")  # where pydantic-settings reads it too: the current folder


class Unreachable(Exception):
    """The server could not be reached (nothing listens there, a timeout, a name that does not resolve)."""


class Refused(Exception):
    """The server answered with an error; the message is its one line."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class BadSetting(ValueError):
    """NEWSQA_SERVER_URL, NEWSQA_API_TOKEN or NEWSQA_SERVER_TIMEOUT cannot be used; the message says why."""


@dataclass(frozen=True)
class Remote:
    """A running `newsqa serve`, as the command line reaches it."""

    url: str
    token: str | None = None
    timeout: float = 60.0

    @property
    def shown(self) -> str:
        """The address without credentials, for messages."""
        return safe_url(self.url)

    def request(self, method: str, path: str, body: Any = None, text: bool = False) -> Any:
        """One request; the JSON answer (the text one with `text`), or Unreachable / Refused."""
        data = None if body is None else json.dumps(body, ensure_ascii=False).encode("utf-8")
        request = urllib.request.Request(self.url + path, data=data, method=method)
        request.add_header("Accept", "text/plain" if text else "application/json")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        if self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        try:
            # No proxy for the server: NEWSQA_SERVER_URL names it directly (a loopback one most often).
            opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
            with opener.open(request, timeout=self.timeout) as response:
                answered = response.read().decode("utf-8")
                return answered if text else json.loads(answered)
        except urllib.error.HTTPError as exc:
            raise Refused(exc.code, error_message(exc.code, exc.read())) from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise Unreachable(f"{type(reason).__name__}: {reason}" if not isinstance(reason, str) else reason) from None
        except ValueError as exc:  # a body that is not JSON: not a newsqa server
            raise Refused(200, f"{self.shown} did not answer as newsqa serve does ({exc})") from None


def error_message(status: int, body: bytes) -> str:
    """The one line an API error carries (`{"error": {"message": ...}}`), else the status."""
    try:
        return str(json.loads(body.decode("utf-8"))["error"]["message"])
    except (ValueError, KeyError, TypeError):
        return f"the server answered HTTP {status}"


def _values() -> dict[str, str | None]:
    """The server settings from the environment, else `.env` (as pydantic-settings reads them: names in
    any case, the environment first)."""
    names = ("NEWSQA_SERVER_URL", "NEWSQA_API_TOKEN", "NEWSQA_SERVER_TIMEOUT")
    environ = {key.upper(): value for key, value in os.environ.items() if key.upper() in names}
    if len(environ) < len(names) and ENV_FILE.is_file():
        try:
            from dotenv import dotenv_values

            from_file = {key.upper(): value for key, value in dotenv_values(ENV_FILE, encoding="utf-8").items()}
        except (OSError, UnicodeDecodeError):
            from_file = {}  # the full settings, read when answering in-process, say what is wrong with it
        environ = {**{key: from_file.get(key) for key in names if key in from_file}, **environ}
    return environ


def configured() -> Remote | None:
    """The server NEWSQA_SERVER_URL names, or None when it is unset or empty; BadSetting when unusable."""
    values = _values()
    url = (values.get("NEWSQA_SERVER_URL") or "").strip()
    if not url:
        return None
    if problem := server_url_problem(url):
        raise BadSetting(f"invalid setting NEWSQA_SERVER_URL={safe_url(url)}: {problem}")
    raw_timeout = (values.get("NEWSQA_SERVER_TIMEOUT") or "60").strip()
    try:
        timeout = float(raw_timeout)
    except ValueError:
        timeout = -1.0
    if not 0 < timeout <= 3600:
        raise BadSetting(f"invalid setting NEWSQA_SERVER_TIMEOUT={raw_timeout}: must be a number > 0 and ≤ 3600 "
                         "(default 60.0)")
    token = (values.get("NEWSQA_API_TOKEN") or "").strip() or None
    return Remote(url.rstrip("/"), token, timeout)
