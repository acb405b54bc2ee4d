"""The `newsqa` console script. `newsqa ask QUESTION` with a running `newsqa serve` configured is answered here
with the standard library alone: a shell gets its answer without loading typer, rich or pydantic (about
0.2 s, against 1.5 s in-process). Every other command, and anything this path cannot take, goes to `bot.cli`."""

from __future__ import annotations

import json
import os
import shutil
import sys


def main() -> None:
    """Console-script entry point."""
    code = quick_ask(sys.argv[1:])
    if code is not None:
        raise SystemExit(code)
    from bot.cli import app

    app()


def quick_ask(args: list[str]) -> int | None:
    """Answer `ask [--json] [--] QUESTION` through the configured server and return the exit code; None
    leaves the command to `bot.cli` (another command or option, no server configured, a setting or an
    answer to report as an error), which says what is wrong in one line."""
    question, as_json = _ask_arguments(args)
    if question is None:
        return None
    from bot.client import BadSetting, Refused, Unreachable, configured

    try:
        remote = configured()
        question.encode("utf-8")
    except (BadSetting, UnicodeEncodeError):
        return None
    if remote is None:
        return None
    try:
        if as_json:
            body = remote.request("POST", "/ask", {"question": question})
            sys.stdout.write(json.dumps(body, ensure_ascii=False, indent=2) + "\n")
        else:
            sys.stdout.write(remote.request("POST", "/ask", {"question": question, **terminal()}, text=True))
    except Unreachable as exc:
        # Said once here; the full command line then answers in-process without trying the server again.
        sys.stderr.write(f"note: newsqa serve at {remote.shown} is not reachable ({exc}); answering in-process\n")
        os.environ["NEWSQA_SERVER_URL"] = ""
        return None
    except Refused:
        return None
    return 0


def _ask_arguments(args: list[str]) -> tuple[str | None, bool]:
    """The question of `ask [--json] [--] QUESTION` and whether --json was given; (None, False) for any
    other command line."""
    if not args or args[0] != "ask":
        return None, False
    options, words = [], []
    for i, arg in enumerate(args[1:], start=1):
        if arg == "--":
            words += args[i + 1 :]
            break
        (options if arg.startswith("-") else words).append(arg)
    if set(options) - {"--json"} or len(words) != 1:
        return None, False
    return words[0], bool(options)


def terminal() -> dict[str, object]:
    """The width and colour of the output, as rich (which `newsqa ask` prints with) would choose them."""
    tty = sys.stdout.isatty()
    columns = os.environ.get("COLUMNS", "")
    width = int(columns) if columns.isdigit() else shutil.get_terminal_size().columns if tty else 80
    color = tty and not os.environ.get("NO_COLOR") and os.environ.get("TERM") != "dumb"
    return {"width": max(20, min(width, 1000)), "color": color}
