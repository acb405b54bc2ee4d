"""Typed objects passed between the stages: Article → Chunk; Question → Hit → Answer (with Citations);
a conversation's Turns."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, model_validator

Confidence = Literal["answer", "unsure", "none"]
QuestionType = Literal["when", "how_many", "who", "where"]
SmalltalkKind = Literal["greeting", "thanks", "farewell", "ack", "chitchat", "help", "praise", "complaint"]


class Span(BaseModel):
    """A half-open character range `[start, end)` in an article's source file."""

    start: int
    end: int


class Article(BaseModel):
    """One cleaned source file: the body is kept as spans of the original text."""

    id: str  # the file name, stable across runs
    path: str
    title: str
    language: str
    published: str | None = None  # ISO date: the page's metadata, the feed entry, or the text itself
    text: str  # the whole file as read, so every span can be quoted back exactly
    body: list[Span]  # the kept paragraphs, debris removed
    fingerprint: str  # hash of the raw text: unchanged file → unchanged chunks
    url: str | None = None  # where a fetched page came from (its canonical URL)
    outlet: str | None = None  # the site that published it (trafilatura's site name, else the host)

    def span_text(self, span: Span) -> str:
        """The exact source text of a span."""
        return self.text[span.start : span.end]


class Sentence(BaseModel):
    """A sentence inside a chunk, located in the source file."""

    start: int
    end: int
    text: str
    offset: int = 0  # where the sentence starts in its chunk's text


class Chunk(BaseModel):
    """A few consecutive sentences of one article: the unit that is embedded and searched."""

    id: str
    article_id: str
    position: int
    start: int
    end: int
    text: str
    sentences: list[Sentence]
    title: str
    language: str
    published: str | None = None
    source: str  # the article's id: its path below the corpus, or a fetched page's URL
    url: str | None = None
    outlet: str | None = None


class Question(BaseModel):
    """A question analysed once (language, what it asks for, its names, dates, places and numbers, how it
    leans on the previous turn) and passed to every stage, as llama-index passes a `QueryBundle`."""

    text: str  # as the reader wrote it (stripped)
    language: str  # en, vi, bg or ru: the reader's language as the question shows it
    asks: QuestionType | None = None  # the kind of answer wanted; None for open questions (what, why, how)
    duration: bool = False  # "how long": the number wanted is a span of time
    # What the question itself says (a follow-up's topic is apart, in `topic` and `search`):
    terms: list[str] = Field(default_factory=list)  # its names and numbers, folded for matching
    names: list[str] = Field(default_factory=list)  # its names as written (capitalised words, places)
    words: list[str] = Field(default_factory=list)  # its content words, folded
    dates: list[str] = Field(default_factory=list)  # cross-script tokens (retrieval.question.bridges)
    places: list[str] = Field(default_factory=list)
    numbers: list[str] = Field(default_factory=list)
    smalltalk: SmalltalkKind | None = None  # the whole message is a greeting, thanks, goodbye, feedback...
    topic: list[str] = Field(default_factory=list)  # names a follow-up took from the previous turn
    search: str = ""  # the text searched: the question, with a follow-up's topic
    queries: list[str] = Field(default_factory=list)  # further searches for the same question (translations)
    seen: list[tuple[str, int, int]] = Field(default_factory=list)  # quotes the thread already showed
    recent: bool = False  # asks for the latest news ("latest", "today", "mới nhất", "последние"): newer first
    headlines: bool = False  # asks for the news and nothing else ("what's the latest?"): the newest articles
    since: str | None = None  # ISO dates bounding the articles searched (`--since` / `--until`)
    until: str | None = None

    @property
    def follows(self) -> bool:
        """The question was read against the previous turn."""
        return bool(self.topic)


class Hit(BaseModel):
    """A passage found for a question: the quoted sentences inside their chunk, with scores."""

    chunk: Chunk
    quote: str
    start: int
    end: int
    score: float  # how well the quote answers, higher is better
    dense: float = 0.0  # cosine of the question with the chunk
    centered: float = 0.0  # that cosine minus the question's mean cosine with the chunk's language
    lexical: float = 0.0  # share of the question's terms found in the chunk
    sentence_scores: list[float] = Field(default_factory=list)  # each quoted sentence's centred cosine


class Report(BaseModel):
    """Another article reporting the same story (another language or outlet), named instead of quoted."""

    source: str
    title: str
    outlet: str | None = None
    url: str | None = None
    language: str | None = None


class Citation(BaseModel):
    """A numbered source passage backing an answer."""

    n: int
    source: str
    title: str
    published: str | None = None
    url: str | None = Field(default=None, description="the article's web address, when it was fetched")
    outlet: str | None = Field(default=None, description="the site that published it")
    quote: str
    score: float
    start: int = Field(description="offset of the quote in the source file")
    end: int
    highlight: str | None = Field(default=None, description="the span that answers the question")
    chunk_id: str = ""
    language: str | None = None  # the quote's language
    translation: str | None = Field(default=None, description="the quote in the reader's language, by the model")
    translated_to: str | None = None  # the language of `translation`
    also: list[Report] = Field(default_factory=list, description="the same story, also reported by these")
    dated: str | None = Field(default=None, description="a weekday the quote names, as a date (thứ Tư → 2025-09-03)")


class Answer(BaseModel):
    """What newsqa says to a question: the answer text and the passages it rests on."""

    question: str
    answer: str
    abstained: bool
    mode: Literal["extractive", "llm"] = "extractive"
    citations: list[Citation] = Field(default_factory=list)
    note: str | None = None  # e.g. why the generator fell back to the extractive answer
    confidence: Confidence = Field(
        default="answer",
        description="answer: the passages answer; unsure: they may not (still shown); none: nothing to quote",
    )
    kind: Literal["answer", "smalltalk"] = "answer"  # smalltalk: a greeting or thanks, answered without sources
    language: str | None = None  # the question's language (ISO 639-1) when it can be told
    read_as: str | None = None  # the standalone question that was searched, when a model rewrote a follow-up
    topic: list[str] = Field(default_factory=list)  # what a follow-up was read as being about (no model)
    searched: str | None = None  # the text searched, when it was not the question as asked
    asks: QuestionType | None = None  # the kind of answer the question wanted
    smalltalk: SmalltalkKind | None = None  # for kind smalltalk: which
    lead: str | None = Field(default=None, description="the span of quote [1] that answers, shown first")
    glossed: str | None = Field(default=None, description="quote [1]'s span of the asked kind, in another language")
    gloss: str | None = Field(default=None, description="that span rendered in the reader's language")

    @model_validator(mode="after")
    def _abstained_means_none(self) -> Answer:
        if self.abstained and self.confidence != "none":
            self.confidence = "none"
        return self


class Turn(BaseModel):
    """One exchange of a conversation, as the next question needs it: what was asked and understood,
    what was answered, and which quotes were shown."""

    question: str  # as asked
    standalone: str | None = None  # as a model rewrote it, when it did
    searched: str = ""  # what was searched for it: the question with the names it took from before
    topic: list[str] = Field(default_factory=list)  # the names it was about (its own, or taken from before)
    answer: str = ""  # the answer's text, short (a model reads it to resolve "that" or "he")
    lead: str | None = None
    asks: QuestionType | None = None
    abstained: bool = False
    smalltalk: bool = False
    shown: list[tuple[str, int, int]] = Field(default_factory=list)  # (source, start, end) of each quote
