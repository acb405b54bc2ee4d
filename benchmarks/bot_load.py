"""A just-started bot under a burst: 50 new users each send a different question at once.

Runs the real python-telegram-bot Application against the fake Bot API server of the end-to-end
tests (tests/fakes/telegram_server.py) in a fresh process, so nothing is warm but what the bot
warms itself when it starts. Each user's wait is from the moment the burst is queued to the
bot's reply in that chat.

    python -m benchmarks.bot_load --index-dir DIR      # prints the figures as JSON
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
from pathlib import Path
from typing import Any

from benchmarks.measure import OMP_WAIT_POLICY, ROOT, peak_rss_mb, percentiles

FIXTURE = ROOT / "tests" / "fixtures" / "questions.yaml"
XQUAD_EN = ROOT.parent / "shared" / "xquad" / "questions.dev.en.yaml"


def distinct_questions(count: int) -> list[str]:
    """`count` different questions: the fixture's, then XQuAD's English dev questions."""
    import yaml

    texts = [item["question"] for item in yaml.safe_load(FIXTURE.read_text("utf-8"))]
    if XQUAD_EN.exists():
        texts += [item["question"] for item in yaml.safe_load(XQUAD_EN.read_text("utf-8"))]
    return list(dict.fromkeys(texts))[:count]


async def burst(index_dir: Path, users: int) -> dict[str, Any]:
    """Start the bot on the index, send `users` questions at once, time every reply."""
    from bot.app import build_application, running
    from retrieval.engine import Engine
    from retrieval.settings import Settings
    from tests.fakes.telegram_server import FakeTelegram, private_chat, user

    began = time.perf_counter()
    settings = Settings(_env_file=None, index_dir=index_dir, llm="none")
    engine = Engine(settings)
    telegram = FakeTelegram()
    await telegram.start()
    try:
        app = build_application(telegram.settings_for(settings), engine)
        async with running(app, poll_timeout=0.5):
            await telegram.wait_for(lambda: telegram.commands, timeout=300)
            ready = time.perf_counter() - began
            people = [user(9000 + i, f"Reader {i}") for i in range(users)]
            questions = distinct_questions(users)
            cpu_before = time.process_time()
            sent = time.monotonic()
            for person, question in zip(people, questions, strict=True):
                telegram.message(private_chat(person), person, question)
            await telegram.wait_for(lambda: all(telegram.replies(p["id"]) for p in people), timeout=600)
            waits = [telegram.replies(p["id"])[0].created - sent for p in people]
            cpu = time.process_time() - cpu_before
            await telegram.settle(app)
    finally:
        await telegram.stop()
    return {
        "users": users,
        "distinct_questions": len(set(questions)),
        "start_to_ready_s": round(ready, 2),
        **percentiles(waits),
        "last_s": round(max(waits), 2),
        # CPU this process used for the whole burst (the fake Telegram server included): wall time
        # beyond it was spent waiting for a core, on a machine shared with other work.
        "burst_cpu_s": round(cpu, 2),
        "load_average": round(os.getloadavg()[0], 2),
        "peak_rss_mb": peak_rss_mb(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bot_load", description=__doc__.split("\n")[0])
    parser.add_argument("--index-dir", type=Path, required=True)
    parser.add_argument("--users", type=int, default=50)
    args = parser.parse_args()
    os.environ.setdefault("OMP_WAIT_POLICY", OMP_WAIT_POLICY)
    print(json.dumps(asyncio.run(burst(args.index_dir, args.users))))


if __name__ == "__main__":
    main()
