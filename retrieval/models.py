"""Typed objects passed between the stages: Article → Chunk → Hit → Answer (with Citations)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, model_validator

Confidence = Literal["answer", "unsure", "none"]


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
    published: str | None = None  # ISO date when the text states one
    text: str  # the whole file as read, so every span can be quoted back exactly
    body: list[Span]  # the kept paragraphs, debris removed
    fingerprint: str  # hash of the raw text: unchanged file → unchanged chunks

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
    source: str  # the article's file name


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


class Citation(BaseModel):
    """A numbered source passage backing an answer."""

    n: int
    source: str
    title: str
    published: str | None = None
    quote: str
    score: float
    start: int = Field(description="offset of the quote in the source file")
    end: int
    highlight: str | None = Field(default=None, description="the span that answers the question")
    chunk_id: str = ""


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
    read_as: str | None = None  # the standalone question that was searched, when a follow-up was rewritten

    @model_validator(mode="after")
    def _abstained_means_none(self) -> Answer:
        if self.abstained and self.confidence != "none":
            self.confidence = "none"
        return self
