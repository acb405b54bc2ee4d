"""Conversations as a reader has them: `benchmarks/conversations*.yaml` driven through the real `newsqa bot`
(its own process, no model) against the fake Bot API of the tests, every reply scored from what Telegram
would show.

    python -m benchmarks.conversations --index-dir /tmp/seeds-index                   # the tuning part
    python -m benchmarks.conversations --index-dir /tmp/seeds-index --part all --out benchmarks/CONVERSATIONS.md
    python -m benchmarks.conversations --index-dir /tmp/seeds-index --checkout /tmp/base   # another checkout's bot

Scores: right in the first quote (the quote that answers, over answer and follow-up turns), in any quote
shown, false abstentions, wrong bold leads (a lead that names none of the expected strings, or any lead on an
unanswerable turn), follow-ups right first, small talk answered in kind (no quote, no search, thanks and
goodbyes never greeted), unanswerable turns abstained, and the median visible length of replies to questions.
"""

from __future__ import annotations

import asyncio
import html
import json
import os
import re
import statistics
import sys
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml

from bot.formatting import NO_ANSWER, READ_AS, plain
from bot.i18n import translations
from retrieval.text import contains_answer
from tests.fakes.telegram_server import FakeTelegram, private_chat, user

HERE = Path(__file__).resolve().parent
FILES = {"tuning": HERE / "conversations.yaml", "held-out": HERE / "conversations.heldout.yaml"}
QUESTIONS = ("answer", "followup", "unanswerable")
SMALLTALK = ("greeting", "thanks", "farewell", "ack", "feedback")
# How the greeting reply opens in each reader's language: a thanks or goodbye answered with it was misread.
GREETED = {"en": "Hello", "vi": "Xin chào", "bg": "Здравейте", "ru": "Здравствуйте"}

_QUOTE = re.compile(r"<blockquote[^>]*>(.*?)</blockquote>", re.S)
_LEAD = re.compile(r"<b>([^<\[]+)</b> — ")


@dataclass
class Turn:
    """One exchange: what was said, what came back, and how it scored."""

    conversation: str
    part: str
    language: str
    say: str
    kind: str
    expect: list[str]
    reply: str = ""  # the visible text of the reply, every message of it
    quotes: list[str] = field(default_factory=list)
    lead: str | None = None
    abstained: bool = False
    read_as: str | None = None
    first_right: bool = False
    any_right: bool = False
    lead_wrong: bool = False
    smalltalk_right: bool = False


def load(parts: list[str]) -> list[dict[str, Any]]:
    """The conversations of the chosen parts, in file order."""
    found = []
    for part in parts:
        for conversation in yaml.safe_load(FILES[part].read_text("utf-8")):
            conversation["part"] = part
            found.append(conversation)
    return found


def _matches(text: str, expected: list[str]) -> bool:
    return any(contains_answer(text, wanted) for wanted in expected)


def score(turn: Turn, messages: list[str]) -> Turn:
    """Read the reply as the reader sees it and score it."""
    source = "\n\n".join(messages)
    tr = translations(turn.language)
    turn.reply = "\n\n".join(plain(m) for m in messages)
    turn.quotes = [" ".join(plain(q).split()) for q in _QUOTE.findall(source)]
    lead = _LEAD.search(source)
    turn.lead = html.unescape(lead.group(1)).strip() if lead else None
    turn.abstained = tr.gettext(NO_ANSWER) in turn.reply
    read_as = tr.gettext(READ_AS).split("{")[0]
    turn.read_as = next((line for line in turn.reply.splitlines() if line.startswith(read_as)), None)
    if turn.kind in ("answer", "followup"):
        turn.first_right = bool(turn.quotes) and _matches(turn.quotes[0], turn.expect)
        turn.any_right = any(_matches(q, turn.expect) for q in turn.quotes)
        turn.lead_wrong = turn.lead is not None and not _matches(turn.lead, turn.expect)
    elif turn.kind == "unanswerable":
        turn.lead_wrong = turn.lead is not None
    else:
        greeted = turn.reply.startswith(GREETED.get(turn.language, GREETED["en"]))
        turn.smalltalk_right = not turn.quotes and not turn.abstained and (turn.kind == "greeting" or not greeted)
    return turn


def _rate(hits: int, total: int) -> str:
    return f"{hits}/{total} = {hits / total:.2f}" if total else "—"


def scorecard(turns: list[Turn]) -> dict[str, Any]:
    """The figures the reader issue names, over a set of turns."""
    answerable = [t for t in turns if t.kind in ("answer", "followup")]
    followups = [t for t in turns if t.kind == "followup"]
    unanswerable = [t for t in turns if t.kind == "unanswerable"]
    smalltalk = [t for t in turns if t.kind in SMALLTALK]
    closing = [t for t in smalltalk if t.kind in ("thanks", "farewell")]
    leads = [t for t in turns if t.lead is not None and t.kind in QUESTIONS]
    lengths = [len(t.reply) for t in turns if t.kind in QUESTIONS and not t.abstained]
    return {
        "turns": len(turns),
        "right in the first quote": _rate(sum(t.first_right for t in answerable), len(answerable)),
        "right in any quote": _rate(sum(t.any_right for t in answerable), len(answerable)),
        "false abstentions": sum(t.abstained for t in answerable),
        "wrong bold leads / leads shown": f"{sum(t.lead_wrong for t in leads)} / {len(leads)}",
        "follow-ups right first": _rate(sum(t.first_right for t in followups), len(followups)),
        "small talk answered in kind": _rate(sum(t.smalltalk_right for t in smalltalk), len(smalltalk)),
        "thanks and goodbyes": _rate(sum(t.smalltalk_right for t in closing), len(closing)),
        "unanswerable abstained": _rate(sum(t.abstained for t in unanswerable), len(unanswerable)),
        "median visible reply (answers)": int(statistics.median(lengths)) if lengths else 0,
        "replies over 700 characters": _rate(sum(n > 700 for n in lengths), len(lengths)),
    }


async def start_bot(telegram: FakeTelegram, index_dir: Path, state: Path, log: Path,
                    checkout: Path | None) -> asyncio.subprocess.Process:
    """`newsqa bot` in its own process (from `checkout` when given), no model, its own state file."""
    ours = ("OPENAI_", "NEWSQA_", "CHROMA_", "TELEGRAM_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(ours)}
    env.update(TELEGRAM_BOT_TOKEN=telegram.token, TELEGRAM_BASE_URL=telegram.base_url, NEWSQA_LLM="none",
               NEWSQA_INDEX_DIR=str(index_dir), NEWSQA_BOT_STATE_FILE=str(state), PYTHONUNBUFFERED="1",
               NEWSQA_RATE_LIMIT_PER_MINUTE="1000")
    cwd = checkout or HERE.parent
    env["PYTHONPATH"] = str(cwd)
    with log.open("wb") as stderr:
        return await asyncio.create_subprocess_exec(sys.executable, "-m", "bot.cli", "bot", env=env, cwd=cwd,
                                                    stdout=asyncio.subprocess.DEVNULL, stderr=stderr)


async def exchange(telegram: FakeTelegram, person: dict[str, Any], text: str) -> list[str]:
    """Send one message; every message of the reply, as HTML, once the bot has gone quiet."""
    chat = private_chat(person)
    before = len(telegram.replies(chat["id"]))
    telegram.message(chat, person, text)
    await telegram.wait_replies(chat["id"], before + 1, timeout=300)
    seen = -1
    while seen != len(telegram.replies(chat["id"])):  # a long reply comes as several messages
        seen = len(telegram.replies(chat["id"]))
        await asyncio.sleep(0.5)
    return [sent.html for sent in telegram.replies(chat["id"])[before:]]


async def run(index_dir: Path, conversations: list[dict[str, Any]], checkout: Path | None) -> list[Turn]:
    """Hold every conversation with one running bot; each reader is a new user in a private chat."""
    telegram = FakeTelegram()
    await telegram.start()
    turns: list[Turn] = []
    with tempfile.TemporaryDirectory() as state:
        log = Path(state) / "bot.log"
        bot = await start_bot(telegram, index_dir, Path(state) / "bot-state.pickle", log, checkout)
        try:
            for n, conversation in enumerate(conversations):
                person = user(7000 + n, conversation["id"], language_code=conversation["language"])
                for step in conversation["turns"]:
                    messages = await exchange(telegram, person, step["say"])
                    turn = Turn(conversation["id"], conversation["part"], conversation["language"], step["say"],
                                step["kind"], list(step.get("expect", [])))
                    turns.append(score(turn, messages))
        except TimeoutError:
            sys.exit("the bot did not answer; its log:\n" + log.read_text("utf-8", "replace")[-3000:])
        finally:
            bot.terminate()
            await bot.wait()
            await telegram.stop()
    return turns


def report(turns: list[Turn], parts: list[str]) -> str:
    """Markdown: one scorecard column per part, then every exchange as the reader saw it."""
    cards = {part: scorecard([t for t in turns if t.part == part]) for part in parts}
    lines = ["| figure | " + " | ".join(parts) + " |", "|---|" + "---|" * len(parts)]
    for name in next(iter(cards.values())):
        lines.append(f"| {name} | " + " | ".join(str(cards[p][name]) for p in parts) + " |")
    for part in parts:
        lines += ["", f"## {part}"]
        for turn in (t for t in turns if t.part == part):
            verdict = _verdict(turn)
            lines += ["", f"**{turn.conversation}** ({turn.kind}) {verdict}", f"> {turn.say}", "",
                      "```", turn.reply, "```"]
    return "\n".join(lines)


def _verdict(turn: Turn) -> str:
    if turn.kind in ("answer", "followup"):
        first = "right first" if turn.first_right else ("right, not first" if turn.any_right else "WRONG")
        return f"{first}{'; WRONG LEAD ' + repr(turn.lead) if turn.lead_wrong else ''}"
    if turn.kind == "unanswerable":
        return "abstained" if turn.abstained else "ANSWERED"
    return "in kind" if turn.smalltalk_right else "NOT IN KIND"


def main(
    index_dir: Annotated[Path, typer.Option("--index-dir", help="An index of the seed articles.")],
    part: Annotated[str, typer.Option("--part", help="tuning, held-out or all.")] = "tuning",
    checkout: Annotated[Path | None, typer.Option("--checkout", help="Run the bot of another checkout.")] = None,
    out: Annotated[Path | None, typer.Option("--out", help="Write the report (Markdown) here.")] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write every scored turn here.")] = None,
) -> None:
    """Drive the conversation benchmark through `newsqa bot` and print its scorecard."""
    parts = list(FILES) if part == "all" else [part]
    turns = asyncio.run(run(index_dir, load(parts), checkout))
    text = report(turns, parts)
    print(text.split("\n## ")[0])
    if out:
        out.write_text(f"# Conversation benchmark\n\n{text}\n", "utf-8")
    if json_out:
        json_out.write_text(json.dumps([asdict(t) for t in turns], ensure_ascii=False, indent=1), "utf-8")


if __name__ == "__main__":
    typer.run(main)
