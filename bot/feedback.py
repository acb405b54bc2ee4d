"""Readers' 👍 / 👎 on answers, kept in SQLite beside the bot's state file (never in the index, which the
bot's readers must leave untouched): each answer the bot sends is recorded with its question, text and
citations; each press is one vote per user per answer, a second press replacing the first. No names are
kept: a chat id, a user id, the texts.

`newsqa feedback` lists the votes; `--export FILE` writes the 👎 answers as fixture candidates (question,
what was quoted) for a person to complete with the expected sources and answer.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml

from retrieval.models import Answer

Vote = Literal["up", "down"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS answers (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    chat_id INTEGER NOT NULL,
    question TEXT NOT NULL,
    answer TEXT NOT NULL,
    citations TEXT NOT NULL,
    language TEXT,
    asked REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS votes (
    answer_id INTEGER NOT NULL REFERENCES answers(id),
    user_id INTEGER NOT NULL,
    vote TEXT NOT NULL CHECK (vote IN ('up', 'down')),
    voted REAL NOT NULL,
    PRIMARY KEY (answer_id, user_id)
);
"""


class FeedbackError(Exception):
    """The feedback file cannot be used; the message names it and what to do."""


@dataclass(frozen=True)
class Voted:
    """One vote with the answer it is on."""

    answer_id: int
    chat_id: int
    user_id: int
    vote: Vote
    question: str
    answer: str
    citations: list[dict[str, Any]]
    voted: float


class FeedbackStore:
    """The votes file (created on first write). Each call opens and closes its own connection, so the bot's
    worker threads and the command line can use it at once (SQLite serialises the writes)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @contextmanager
    def _connection(self, write: bool) -> Iterator[sqlite3.Connection]:
        try:
            if write:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            elif not self.path.exists():
                raise FeedbackError(f"no feedback yet: {self.path} does not exist (the bot writes it when "
                                    "readers press 👍 or 👎; NEWSQA_FEEDBACK_FILE moves it)")
            with closing(sqlite3.connect(self.path, timeout=10)) as connection, connection:
                if write:
                    connection.executescript(_SCHEMA)
                yield connection
        except sqlite3.DatabaseError as exc:
            raise FeedbackError(f"the feedback file {self.path} cannot be used ({exc}); "
                                "move it away or set NEWSQA_FEEDBACK_FILE") from exc
        except OSError as exc:
            raise FeedbackError(f"cannot write the feedback file {self.path} ({exc.strerror or exc}); "
                                "set NEWSQA_FEEDBACK_FILE to a writable path") from exc

    def record(self, chat_id: int, answer: Answer) -> int:
        """Keep an answer that was sent, so that votes on it can say what it was; returns its id."""
        citations = [c.model_dump(include={"n", "source", "title", "url", "outlet", "published", "quote"})
                     for c in answer.citations]
        with self._connection(write=True) as db:
            cursor = db.execute(
                "INSERT INTO answers (chat_id, question, answer, citations, language, asked) VALUES (?, ?, ?, ?, ?, ?)",
                (chat_id, answer.question, answer.answer, json.dumps(citations, ensure_ascii=False), answer.language,
                 time.time()),
            )
            return int(cursor.lastrowid or 0)

    def vote(self, answer_id: int, user_id: int, vote: Vote) -> bool:
        """Record a user's vote on an answer, replacing an earlier one; False when the answer is unknown."""
        with self._connection(write=True) as db:
            if db.execute("SELECT 1 FROM answers WHERE id = ?", (answer_id,)).fetchone() is None:
                return False
            db.execute(
                "INSERT INTO votes (answer_id, user_id, vote, voted) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (answer_id, user_id) DO UPDATE SET vote = excluded.vote, voted = excluded.voted",
                (answer_id, user_id, vote, time.time()),
            )
            return True

    def votes(self, vote: Vote | None = None) -> list[Voted]:
        """Every vote (or every vote of one kind), oldest first."""
        query = ("SELECT v.answer_id, a.chat_id, v.user_id, v.vote, a.question, a.answer, a.citations, v.voted "
                 "FROM votes v JOIN answers a ON a.id = v.answer_id")
        with self._connection(write=False) as db:
            rows = db.execute(query + (" WHERE v.vote = ?" if vote else "") + " ORDER BY v.voted",
                              (vote,) if vote else ()).fetchall()
        return [Voted(r[0], r[1], r[2], r[3], r[4], r[5], json.loads(r[6]), r[7]) for r in rows]


def fixture_candidates(votes: list[Voted]) -> str:
    """The 👎 answers as YAML in the fixture's schema, with what a person must fill in left empty: one item
    per question (however many readers voted it down), with the quotes it was given to judge by."""
    items: dict[str, dict[str, Any]] = {}
    for voted in votes:
        if voted.vote != "down" or voted.question in items:
            continue
        items[voted.question] = {
            "id": f"feedback-{voted.answer_id}",
            "question": voted.question,
            "expected_sources": [],
            "expected_answer": [],
            "quoted": [{"source": c.get("url") or c.get("source"), "quote": c.get("quote")} for c in voted.citations],
        }
    header = ("# Answers readers voted 👎 (newsqa feedback --export): complete expected_sources and expected_answer,\n"
              "# or set answerable: false, then move the item into the fixture. `quoted` is what the bot quoted.\n")
    return header + yaml.safe_dump(list(items.values()), allow_unicode=True, sort_keys=False, width=120)
