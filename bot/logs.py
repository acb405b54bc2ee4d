"""The bot's logging: to stderr, with the bot token redacted from every record and traceback."""

from __future__ import annotations

import logging

from retrieval.messages import strip_credentials
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


def configure_logging(settings: Settings, verbose: bool = False) -> None:
    """Log to stderr with the bot token redacted; httpx's per-request lines (URLs carry the token)
    only in verbose mode."""
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    token = settings.telegram_bot_token.get_secret_value() if settings.telegram_bot_token else ""
    for handler in logging.getLogger().handlers:
        handler.addFilter(Redact([token]))
    logging.getLogger("httpx").setLevel(logging.DEBUG if verbose else logging.WARNING)
