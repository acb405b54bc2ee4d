"""The HTTP API's wire format, apart from the server that speaks it: request bodies, the OpenAI chat
completion and its stream chunks, an Answer as chat text (its `[n]` markers, then a Sources block), and
an OpenAI conversation read back as the `History` the engine reads follow-ups against.

A chat front end sends the whole conversation with every question. newsqa's own replies in it are read
back from their text: the Sources block names each quote shown (`source [start:end]`), so the next answer
prefers quotes not shown yet, and the earlier questions are analysed again, in order, so a follow-up takes
the previous turn's names exactly as in `newsqa chat` or the Telegram bot.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Sequence
from datetime import date
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from bot import formatting as fmt
from bot.i18n import LANGUAGES, N_, Translations, choose, translations
from retrieval.models import Answer, Citation
from retrieval.question import History, analyse
from retrieval.text import estimate_tokens

MODEL = "newsqa"
SOURCES = N_("Sources")
SEE_ALSO = N_("See also {markers}.")
# One line of the Sources block: `[1] Title — 001_x.txt [438:660]`, the quote being file[438:660].
_SOURCE_LINE = re.compile(r"^\[(\d{1,2})\] (.*) — (.+) \[(\d+):(\d+)\]$")
# Lines `render` adds around the answer: `(About: …)`, `(note)`, and the gloss `ngày 27/7 → July 27`.
_AROUND = re.compile(r"^\(.*\)$|^[^\[\]]+ → [^\[\]]+$")
# The extractive answer opens with the answering span: `27 July — “quote” [1]`.
_LEAD = re.compile(r"^(.+?) — “", re.MULTILINE)


class ApiError(Exception):
    """A request the API refuses: an HTTP status and one line saying why (OpenAI's error shape)."""

    def __init__(self, status: int, message: str, kind: str = "invalid_request_error", code: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.kind, self.code = status, message, kind, code
        self.headers = headers or {}

    def body(self) -> bytes:
        """The error as OpenAI clients read it, on one line."""
        error = {"message": self.message, "type": self.kind, "param": None, "code": self.code}
        return json.dumps({"error": error}, ensure_ascii=False).encode("utf-8")


class TextPart(BaseModel):
    """One part of a message's content given as a list (only text is read)."""

    model_config = ConfigDict(extra="allow")
    type: str
    text: str | None = None


class Message(BaseModel):
    """One message of an OpenAI conversation."""

    model_config = ConfigDict(extra="allow")  # name, tool_calls... are accepted and not read
    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[TextPart] | None = None

    def text(self) -> str:
        """The message's text; a part that is not text (an image) is refused, not silently dropped."""
        if self.content is None or isinstance(self.content, str):
            return self.content or ""
        if other := [part.type for part in self.content if part.type != "text"]:
            raise ApiError(400, f"a message part of type {other[0]!r} cannot be read; newsqa reads text only",
                           code="unsupported_content")
        return "".join(part.text or "" for part in self.content)


class ChatRequest(BaseModel):
    """`POST /v1/chat/completions`: the conversation, the last user message being the question. OpenAI's
    other parameters (temperature, max_tokens, ...) are accepted and do not change the answer."""

    model_config = ConfigDict(extra="allow")
    model: str
    messages: list[Message] = Field(min_length=1)
    stream: bool = False


class AskRequest(BaseModel):
    """`POST /ask`: one question, optionally with the conversation before it (OpenAI messages)."""

    model_config = ConfigDict(extra="forbid")
    question: str
    top_k: int | None = Field(default=None, ge=1, le=20)
    mode: Literal["auto", "extractive", "llm"] = "auto"
    since: date | None = None
    until: date | None = None
    messages: list[Message] = Field(default_factory=list)
    # With `Accept: text/plain`: the answer as `newsqa ask` prints it, for a terminal this wide, in colour or not.
    width: int = Field(default=80, ge=20, le=1000)
    color: bool = False


def question_and_thread(messages: Sequence[Message]) -> tuple[str, list[Message]]:
    """The question (the last message, which must be the user's) and the conversation before it."""
    last = messages[-1]
    if last.role != "user":
        raise ApiError(400, f"the last message is the {last.role}'s; end the conversation with the user's question",
                       code="no_question")
    return last.text(), list(messages[:-1])


def history_of(messages: Sequence[Message], history: History) -> History:
    """`history` filled with the conversation's turns: each user message with the reply after it."""
    pairs: list[tuple[str, str | None]] = []
    for message in messages:
        if message.role == "user":
            pairs.append((message.text(), None))
        elif message.role == "assistant" and pairs and pairs[-1][1] is None:
            pairs[-1] = (pairs[-1][0], message.text())
    for question, reply in pairs[-history.max_turns:] if history.max_turns else []:
        history.add(answer_from_text(question, reply or "", history))
    return history


def answer_from_text(question: str, reply: str, history: History) -> Answer:
    """The Answer a reply in the conversation stands for, as far as a follow-up needs it: the question
    analysed against the turns before it (its names, the names it took, small talk), the quotes the
    Sources block names, the answering span, and whether it found anything."""
    analysed = analyse(" ".join(question.split()) or "?", history.thread())
    body, shown = split_sources(reply)
    body = said(body)
    citations = [Citation(n=n, source=source, title=title, quote="", score=0.0, start=start, end=end)
                 for n, title, source, start, end in shown]
    lead = _LEAD.search(body)
    return Answer(
        question=analysed.text, answer=body, abstained=analysed.smalltalk is None and not citations,
        kind="smalltalk" if analysed.smalltalk else "answer", citations=citations, topic=analysed.topic,
        searched=analysed.search or None, asks=analysed.asks, lead=lead.group(1).strip() if lead else None,
        language=analysed.language,
    )


def said(body: str) -> str:
    """What a reply said, without the lines `render` puts around the answer (how it was read, the unsure
    warning, a note, the gloss), so a turn read back keeps the answer as the engine gave it."""
    warnings = {translations(language).gettext(fmt.UNSURE) for language in LANGUAGES}
    kept = [line for line in body.splitlines()
            if line.strip() not in warnings and not _AROUND.match(line.strip())]
    return in_english("\n".join(kept).strip())


def in_english(text: str) -> str:
    """An answer's own words (see also, the article's date) as the engine writes them, from the reader's
    language `render` put them in."""
    for language in LANGUAGES:
        tr = translations(language)
        for message in (SEE_ALSO, fmt.PUBLISHED, fmt.WEEKDAY_DATE):
            said = re.escape(tr.gettext(message)).replace(r"\{markers\}", "(?P<markers>.+?)").replace(
                r"\{date\}", "(?P<date>[0-9-]+)")
            text = re.sub(said, lambda match, message=message: message.format(**match.groupdict()), text)
    return text


def split_sources(text: str) -> tuple[str, list[tuple[int, str, str, int, int]]]:
    """A reply's text without its Sources block, and the block's lines as (n, title, source, start, end)."""
    lines = text.rstrip().splitlines()
    shown: list[tuple[int, str, str, int, int]] = []
    while lines and (line := _SOURCE_LINE.match(lines[-1].strip())):
        n, title, source, start, end = line.groups()
        shown.insert(0, (int(n), title, source, int(start), int(end)))
        lines.pop()
    if shown and lines and lines[-1].rstrip(":").strip():
        lines.pop()  # the heading, in the reader's language
    return "\n".join(lines).strip(), shown


def render(answer: Answer, about: fmt.Holdings | None = None) -> str:
    """The answer as chat text, in the reader's language: how a follow-up was read, the unsure warning, the
    answer with its `[n]` markers (or "the sources don't say"), a note, the gloss, then a Sources block."""
    if answer.kind == "smalltalk":
        tr = translations(choose(answer.language))
        return fmt.plain(fmt.render_smalltalk(answer.smalltalk, about, tr))
    head, body, tail = parts(answer)
    return "\n".join([*head, body, *tail])


def parts(answer: Answer) -> tuple[list[str], str, list[str]]:
    """The lines before the answer's own text, that text, and the lines after it (see `render`)."""
    tr = translations(choose(answer.language))
    head = []
    if answer.read_as and answer.read_as != answer.question:
        head.append(f"({tr.gettext(fmt.READ_AS).format(question=answer.read_as)})")
    elif answer.topic:
        head.append(f"({tr.gettext(fmt.ABOUT).format(topic=', '.join(answer.topic))})")
    if answer.confidence == "unsure" and not answer.abstained:
        head.append(tr.gettext(fmt.UNSURE))
    tail = []
    if answer.note:
        tail.append(f"({answer.note})")
    if answer.glossed and answer.gloss:
        tail.append(f"{answer.glossed} → {answer.gloss}")
    if answer.citations:
        tail += ["", f"{tr.gettext(SOURCES)}:", *(source_line(c) for c in answer.citations)]
    if answer.abstained:
        return head, tr.gettext(fmt.NO_ANSWER), tail
    if answer.mode == "extractive" and answer.citations:
        return head, extractive_text(answer, tr), tail
    return head, answer.answer, tail


def extractive_text(answer: Answer, tr: Translations) -> str:
    """A quoted answer in the reader's language: the answering span, the first quote, the article's date when
    it anchors a "when", and the other quotes by number."""
    text = f"“{answer.citations[0].quote}” [1]"
    if answer.lead:
        text = f"{answer.lead} — {text}"
    if (dated := fmt.dating(answer, tr)) is not None:
        text += f" {dated}"
    if len(answer.citations) > 1:
        text += "\n" + tr.gettext(SEE_ALSO).format(markers=", ".join(f"[{c.n}]" for c in answer.citations[1:]))
    return text


def rest_of(answer: Answer, streamed: str) -> str:
    """What follows a model's streamed text once its checked answer is known: the rest of the answer, then
    the lines `render` puts around it (the warning, which could not come first, among them). When the
    checked answer is not what was streamed (a fallback), the whole rendered answer follows it."""
    head, body, tail = parts(answer)
    if answer.kind == "answer" and body.startswith(streamed):
        return "\n".join([body[len(streamed):], *head, *tail]) if head or tail else body[len(streamed):]
    return ("\n\n" if streamed else "") + render(answer)


def source_line(citation: Citation) -> str:
    """`[1] Title — source [start:end]`: the quote is the source file's text from start to end."""
    title = " ".join(fmt.shorten(citation.title).split())
    return f"[{citation.n}] {title} — {citation.source} [{citation.start}:{citation.end}]"


def completion_id() -> str:
    """An id for one completion, as OpenAI's look."""
    return f"chatcmpl-{uuid.uuid4().hex[:24]}"


def usage(question: str, text: str) -> dict[str, int]:
    """Estimated token counts (newsqa runs no tokenizer; clients only display these)."""
    prompt, completion = estimate_tokens(question), estimate_tokens(text)
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def extras(answer: Answer) -> dict[str, Any]:
    """The documented extra fields of a completion: the citations, and the whole Answer."""
    dumped = answer.model_dump(mode="json")
    return {"citations": dumped["citations"], "answer": dumped}


def completion(answer: Answer, text: str, question: str) -> dict[str, Any]:
    """A `chat.completion` body carrying the answer text and, as extra fields, its citations."""
    return {
        "id": completion_id(),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": MODEL,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop",
                     "logprobs": None}],
        "usage": usage(question, text),
        **extras(answer),
    }


def chunk(ident: str, created: int, delta: dict[str, Any], finish: str | None = None,
          **more: Any) -> bytes:
    """One server-sent event of a streamed completion (`chat.completion.chunk`)."""
    body = {"id": ident, "object": "chat.completion.chunk", "created": created, "model": MODEL,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}], **more}
    return f"data: {json.dumps(body, ensure_ascii=False)}\n\n".encode()


DONE = b"data: [DONE]\n\n"


def models() -> dict[str, Any]:
    """`GET /v1/models`: the one model, newsqa."""
    return {"object": "list", "data": [{"id": MODEL, "object": "model", "created": 0, "owned_by": "newsqa"}]}
