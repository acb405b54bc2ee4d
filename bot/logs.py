"""The logging of the long-running commands (the bot, the API server): to stderr, with the bot token and the
API token redacted from every record and traceback."""

from __future__ import annotations

import logging

from telegram.error import InvalidToken, NetworkError

from retrieval.messages import first_line, strip_credentials
from retrieval.settings import Settings


class Redact(logging.Filter):
    """Replace secrets (the bot token) in every log record, its arguments and its traceback."""

    def __init__(self, secrets: list[str]) -> None:
        super().__init__()
        self.secrets = [s for s in secrets if s]

    def _clean(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "<redacted>")
        return strip_credentials(text)

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            record.msg, record.args = self._clean(record.getMessage()), None
        except Exception:  # a malformed record: let logging report it as usual
            return True
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self._clean(record.exc_text)
        return True


class QuietNetwork(logging.Filter):
    """python-telegram-bot logs a Bot API it cannot reach (or a refused token) with a hundred lines of
    traceback. The failure that ends start-up is dropped (`newsqa bot` says it in one line); any other
    is kept as one line naming the error."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if not isinstance(error, (NetworkError, InvalidToken)):
            return True
        if "Bootstrap" in record.getMessage():
            return False
        record.msg, record.args = f"{record.getMessage()} ({type(error).__name__}: {first_line(error)})", None
        record.exc_info = record.exc_text = None
        return True


def configure_logging(settings: Settings, verbose: bool = False) -> None:
    """Log to stderr with the bot and API tokens redacted; httpx's per-request lines (URLs carry the token)
    only in verbose mode."""
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    token = settings.telegram_bot_token.get_secret_value() if settings.telegram_bot_token else ""
    api_token = settings.api_token.get_secret_value() if settings.api_token else ""
    for handler in logging.getLogger().handlers:
        handler.addFilter(QuietNetwork())  # before Redact, which renders the traceback it would drop
        handler.addFilter(Redact([token, api_token]))
    logging.getLogger("httpx").setLevel(logging.DEBUG if verbose else logging.WARNING)
    # APScheduler (PTB's JobQueue) tells every run of the refresh job, even before start-up fails; bot.refresh
    # says what each run did, so its own lines add nothing even in verbose mode.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
