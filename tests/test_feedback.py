"""Readers' 👍 / 👎: buttons under each answer in Telegram, one vote per reader and answer (a second press
changes it), kept beside the bot's state file, listed and exported as fixture candidates by `newsqa feedback`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.feedback import FeedbackError, FeedbackStore, fixture_candidates
from retrieval.models import Answer, Citation
from tests.fakes.telegram_server import FakeTelegram, private_chat, user

READER, OTHER = user(8100, "Reader"), user(8101, "Other")


def answer(question: str = "When did Shoigu visit Pyongyang?") -> Answer:
    quote = Citation(n=1, source="001.txt", title="Putin's letter", quote="ngày 27/7 ...", score=1.0, start=0, end=12,
                     url="https://example.org/a", outlet="DS&PL")
    return Answer(question=question, answer="“ngày 27/7 ...” [1]", abstained=False, citations=[quote])


def test_a_second_press_changes_the_vote_and_each_reader_has_one(tmp_path: Path) -> None:
    store = FeedbackStore(tmp_path / "state" / "feedback.sqlite3")
    first = store.record(chat_id=1, answer=answer())
    assert store.vote(first, 8100, "up") and store.vote(first, 8100, "down") and store.vote(first, 8101, "up")
    assert sorted((v.user_id, v.vote) for v in store.votes()) == [(8100, "down"), (8101, "up")]


def test_a_vote_on_an_answer_never_recorded_is_refused(tmp_path: Path) -> None:
    store = FeedbackStore(tmp_path / "feedback.sqlite3")
    store.record(chat_id=1, answer=answer())
    assert not store.vote(999, 8100, "up") and store.votes() == []


def test_thumbs_down_are_exported_once_per_question_with_what_was_quoted(tmp_path: Path) -> None:
    store = FeedbackStore(tmp_path / "feedback.sqlite3")
    wrong, right = store.record(1, answer()), store.record(1, answer("Who is Peskov?"))
    store.vote(wrong, 8100, "down")
    store.vote(wrong, 8101, "down")
    store.vote(right, 8100, "up")
    [item] = yaml.safe_load(fixture_candidates(store.votes()))
    assert item["question"] == "When did Shoigu visit Pyongyang?"
    assert item["quoted"] == [{"source": "https://example.org/a", "quote": "ngày 27/7 ..."}]
    assert item["expected_sources"] == [] and item["expected_answer"] == []


def test_an_unwritable_feedback_file_is_one_line_naming_it_and_the_setting(tmp_path: Path) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("not a directory")
    with pytest.raises(FeedbackError, match=r"cannot write the feedback file .*NEWSQA_FEEDBACK_FILE"):
        FeedbackStore(blocked / "feedback.sqlite3").record(1, answer())


def test_newsqa_feedback_lists_votes_and_exports_the_thumbs_down(tmp_path: Path) -> None:
    path = tmp_path / "feedback.sqlite3"
    store = FeedbackStore(path)
    store.vote(store.record(1, answer()), 8100, "down")
    env = {**os.environ, "NEWSQA_FEEDBACK_FILE": str(path), "NEWSQA_INDEX_DIR": str(tmp_path / "index")}
    cli = [sys.executable, "-c", "from bot.cli import main; main()", "feedback"]
    listed = subprocess.run(cli, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert listed.returncode == 0 and "1 votes: 0 👍, 1 👎" in listed.stdout
    exported = subprocess.run([*cli, "--export", "candidates.yaml"], env=env, cwd=tmp_path, capture_output=True,
                              text=True, timeout=120)
    assert exported.returncode == 0
    assert yaml.safe_load((tmp_path / "candidates.yaml").read_text("utf-8"))[0]["id"].startswith("feedback-")
    missing = subprocess.run(cli, env={**env, "NEWSQA_FEEDBACK_FILE": str(tmp_path / "none.sqlite3")}, cwd=tmp_path,
                             capture_output=True, text=True, timeout=120)
    assert missing.returncode == 1 and missing.stderr.count("\n") == 1 and "no feedback yet" in missing.stderr


async def test_readers_vote_with_the_buttons_under_an_answer(telegram: FakeTelegram, bot: Any) -> None:
    [reply] = await telegram.ask(private_chat(READER), READER, "When did Shoigu visit Pyongyang?")
    votes = {b["text"]: b["callback_data"] for b in reply.buttons if b["text"] in ("👍", "👎")}
    assert set(votes) == {"👍", "👎"}
    for data, who in ((votes["👍"], READER), (votes["👎"], READER), (votes["👍"], OTHER)):
        query = telegram.press(reply, data, who)
        await telegram.wait_for(lambda q=query: any(a.get("callback_query_id") == q for a in telegram.callback_answers))
    store = FeedbackStore(bot.bot_data["newsqa"].settings.feedback_path)
    assert sorted((v.user_id, v.vote) for v in store.votes()) == [(READER["id"], "down"), (OTHER["id"], "up")]
    assert [v.question for v in store.votes()] == ["When did Shoigu visit Pyongyang?"] * 2
    assert not str(store.path).startswith(str(bot.bot_data["newsqa"].settings.index_dir))
