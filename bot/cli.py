"""The `newsqa` command line: ingest the corpus, ask questions, chat, list sources, evaluate.

Everything a command does not use stays unimported: heavy modules (Chroma, llama-index, the embedder,
pydantic-settings) are imported inside the commands, rich only when something is printed, and the
help is click's plain text, not typer's rich panels (rendering those imported markdown-it and rich's
traceback machinery: `newsqa --help` took 0.5 s, now under 0.2 s).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import re
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from enum import Enum
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress

    from bot.client import Remote
    from bot.formatting import Holdings
    from retrieval.engine import Engine
    from retrieval.models import Answer
    from retrieval.settings import Settings

app = typer.Typer(
    help="Answers questions about a corpus of news articles, quoting and citing the passages it used.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


class LazyConsole:
    """A rich Console made on first use, so that a command that prints nothing through it
    (`--help`, `ask --json`) never imports rich."""

    def __init__(self, **options: Any) -> None:
        self._options = options
        self._console: Console | None = None

    @property
    def real(self) -> Console:
        """The Console itself, for rich objects that take one (`Progress(console=...)`)."""
        if self._console is None:
            from rich.console import Console

            self._console = Console(**self._options)
        return self._console

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


console = LazyConsole()
errors = LazyConsole(stderr=True)


def escape(text: str) -> str:
    """`text` with rich markup escaped."""
    from rich.markup import escape as rich_escape

    return rich_escape(text)

IndexDir = Annotated[
    Path | None,
    # readable=False: an index that cannot be read is newsqa's one line to say, not click's usage text.
    typer.Option("--index-dir", readable=False, help="Where the index lives (env NEWSQA_INDEX_DIR; default: the "
                 "user's data directory, ~/.local/share/newsqa/index on Linux)."),
]
Corpus = Annotated[
    Path | None,
    typer.Option("--corpus", readable=False, help="Directory of article files (env NEWSQA_CORPUS_DIR, default seeds)."),
]
TopK = Annotated[int | None, typer.Option("--top-k", min=1, max=20, help="How many passages to cite.")]


def iso_date(value: str | None) -> str | None:
    """A `--since` / `--until` value as an ISO date, or click's one-line usage error."""
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value.strip()).isoformat()
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a date; write it as YYYY-MM-DD, e.g. 2025-09-03") from None


Since = Annotated[str | None, typer.Option("--since", callback=iso_date, metavar="YYYY-MM-DD",
                                           help="Only articles published on or after this date.")]
Until = Annotated[str | None, typer.Option("--until", callback=iso_date, metavar="YYYY-MM-DD",
                                           help="Only articles published on or before this date.")]


class AnswerMode(str, Enum):
    """How answers are written."""

    auto = "auto"
    extractive = "extractive"
    llm = "llm"


ModeOption = Annotated[
    AnswerMode,
    typer.Option(
        "--mode",
        help="llm: a model writes the answer from the quotes (OPENAI_API_KEY / OPENAI_BASE_URL); "
        "extractive: quotes only, offline; auto: llm when a model is configured.",
    ),
]


def fail(message: str, code: int = 1) -> NoReturn:
    """Print one actionable line to stderr and exit."""
    errors.print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True)
    raise typer.Exit(code)


def settings_with(**overrides: Any) -> Settings:
    """The configured settings with the command-line options that were given. Every command calls this
    first, so a bad setting is reported the same way whichever command runs."""
    given = {key: value for key, value in overrides.items() if value is not None}
    return configured().model_copy(update=given)


class WarningLines(logging.Handler):
    """What the libraries log at WARNING and above, as one `warning:` line on stderr each (no traceback).
    A model's failures are left out: the answer's note already says why it fell back."""

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.startswith("retrieval.generate"):
            return
        from retrieval.messages import strip_credentials

        lines = record.getMessage().strip().splitlines() or [""]
        text = strip_credentials(lines[0])
        errors.print(f"[yellow]{record.levelname.lower()}:[/] {escape(text)}", soft_wrap=True)


def show_warnings() -> None:
    """Route library warnings to `WarningLines` (once per process)."""
    root = logging.getLogger()
    if not any(isinstance(handler, WarningLines) for handler in root.handlers):
        handler = WarningLines(logging.WARNING)
        root.addHandler(handler)


def configured() -> Settings:
    """The settings from the environment and `.env`, or one line and exit code 2 when one is invalid."""
    # Imported here: pydantic-settings alone would double the time `newsqa --help` takes.
    from retrieval.settings import SettingsError, get_settings

    try:
        return get_settings()
    except SettingsError as exc:
        fail(str(exc), code=2)


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn the errors a user can act on into one line and exit code 1, never a traceback."""
    from retrieval.answer import FixtureError
    from retrieval.corpus import CorpusError, IngestLockError
    from retrieval.engine import QuestionError
    from retrieval.index import EmbedderError, StoreError

    try:
        yield
    except (CorpusError, StoreError, QuestionError, FixtureError, IngestLockError, EmbedderError) as exc:
        fail(str(exc))
    except PermissionError as exc:
        fail(f"permission denied: {exc.filename}; pass --index-dir to a writable directory")


def open_engine(settings: Settings) -> Engine:
    """Open the index once for the whole command; while an ingest rebuilds it, say so."""
    from retrieval.corpus import ingest_running
    from retrieval.engine import Engine
    from retrieval.index import StoreError

    def rebuilding(holder: object) -> StoreError:
        return StoreError(
            f"an ingest ({holder}) is rebuilding the index at {settings.index_dir}; ask again when it has finished"
        )

    holder = ingest_running(settings.index_dir)
    if holder is not None and holder.rebuilding:
        raise rebuilding(holder)  # what is there now is a partial index
    # The spinner is for a person watching; piped output (`ask --json | jq`) does without it and rich.
    with console.status("Opening the index…", spinner="dots") if sys.stdout.isatty() else nullcontext():
        try:
            return Engine(settings)
        except StoreError as exc:
            holder = ingest_running(settings.index_dir)
            if holder is None:
                raise
            raise rebuilding(holder) from exc


def print_answer(answer: Answer, about: Callable[[], Holdings] | None = None, out: Any = console) -> None:
    """Render an answer and its citations for the terminal, the texts newsqa writes itself from the
    message catalogue in the question's language (by the answer's kind and confidence). `about` says what
    the index holds, for the reply to small talk; `out` is the Console to print on (the server renders
    `newsqa ask`'s output on one of its own)."""
    from bot import formatting as fmt
    from bot.i18n import choose, translations

    tr = translations(choose(answer.language))
    if answer.kind == "smalltalk":
        out.print(escape(fmt.plain(fmt.render_answer(answer, tr, about() if about else None))))
        return
    if answer.read_as and answer.read_as != answer.question:
        out.print(f"[dim]({escape(tr.gettext(fmt.READ_AS).format(question=answer.read_as))})[/]")
    elif answer.topic:
        out.print(f"[dim]({escape(tr.gettext(fmt.ABOUT).format(topic=', '.join(answer.topic)))})[/]")
    head = fmt.plain(fmt.answer_head(answer, tr))
    if head:
        out.print(f"[{'yellow' if answer.abstained else 'bold'}]{escape(head)}[/]")
    if answer.note:
        out.print(f"[dim]{escape(answer.note)}[/]")
    if answer.confidence == "unsure" and not answer.abstained:
        out.print(f"[yellow]{escape(tr.gettext(fmt.UNSURE))}[/]")
    for citation in answer.citations:
        quote = escape(citation.quote)
        if citation.highlight:
            quote = quote.replace(escape(citation.highlight), f"[bold green]{escape(citation.highlight)}[/]", 1)
        where = ", ".join(filter(None, [citation.outlet, citation.published, citation.url or citation.source]))
        out.print(f"[cyan][{citation.n}][/] “{quote}”")
        if citation.translation:
            translated = tr.gettext(fmt.TRANSLATED).format(language=citation.language or "?")
            out.print(f"    [green]“{escape(citation.translation)}”[/] [dim]({escape(translated)})[/]")
        out.print(f"    [dim]{escape(fmt.shorten(citation.title))} ({escape(where)})[/]")
        if citation.dated:
            out.print(f"    [dim]{escape(tr.gettext(fmt.WEEKDAY_DATE).format(date=citation.dated))}[/]")
        if citation.also:
            named = ", ".join(report.outlet or report.title for report in citation.also)
            out.print(f"    [dim]{escape(tr.gettext(fmt.ALSO_REPORTED).format(outlets=named))}[/]")
        if citation.n == 1 and answer.glossed and answer.gloss:
            out.print(f"    [green]{escape(answer.glossed)} → {escape(answer.gloss)}[/]")


# Seconds between two progress lines when the output is not a terminal (a log, CI): enough to show it
# is alive, few enough to read.
PROGRESS_EVERY = 5.0


class IngestProgress:
    """An ingest's progress. On a terminal, rich's bar: files read of the total, the file being read,
    chunks embedded. Elsewhere a plain line on stderr every PROGRESS_EVERY seconds, from a thread of
    its own, so that a log shows the ingest is alive even while one large file is cleaned."""

    def __init__(self) -> None:
        self.total = self.started = self.embedded = 0
        self.current = ""
        self._bar: Progress | None = None
        self._task: Any = None
        self._stop = threading.Event()
        self._ticker = threading.Thread(target=self._tick, name="ingest-progress", daemon=True)

    def __enter__(self) -> IngestProgress:
        if console.real.is_terminal:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            columns = (TextColumn("articles"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[chunks]}"),
                       TimeElapsedColumn(), TextColumn("{task.fields[now]}"))
            self._bar = Progress(*columns, console=console.real, transient=True)
            self._bar.__enter__()
            self._task = self._bar.add_task("articles", total=None, chunks="", now="")
        else:
            self._ticker.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self._stop.set()
        if self._ticker.is_alive():
            self._ticker.join()
        if self._bar is not None:
            self._bar.__exit__(kind, exc, tb)

    def start(self, files: int) -> None:
        """The run reads this many files."""
        self.total = files

    def file(self, name: str) -> None:
        """It goes on to the file with this id."""
        self.started += 1
        self.current = name
        if self._bar is not None:
            self._show_bar()

    def chunks(self, count: int) -> None:
        """It embedded this many more chunks."""
        self.embedded += count
        if self._bar is not None:
            self._show_bar()

    def _show_bar(self) -> None:
        from retrieval.messages import shown_path

        assert self._bar is not None
        self._bar.update(self._task, total=self.total, completed=max(self.started - 1, 0),
                         now=shown_path(self.current), chunks=f"{self.embedded} chunks embedded")

    def _tick(self) -> None:
        from retrieval.messages import shown_path

        while not self._stop.wait(PROGRESS_EVERY):
            if self.current:
                errors.print(f"ingest: {max(self.started - 1, 0)}/{self.total} files read, {self.embedded} chunks "
                             f"embedded; now {escape(shown_path(self.current))}", soft_wrap=True, highlight=False)


@app.command()
def ingest(
    urls: Annotated[list[str] | None, typer.Argument(help="Web pages to fetch and index (http or https).",
                                                      show_default=False)] = None,
    feed: Annotated[list[str] | None, typer.Option("--feed", help="An RSS or Atom feed whose entries are fetched "
                                                   "and indexed (repeatable; NEWSQA_FEEDS adds more).")] = None,
    corpus: Corpus = None,
    index_dir: IndexDir = None,
    reset: Annotated[bool, typer.Option("--reset", help="Drop the index and rebuild it from scratch.")] = False,
) -> None:
    """Read the corpus, the pages given and the feeds' entries; clean and chunk the articles, embed them and
    store them in Chroma. Fetched pages are kept under the index directory and read again offline.

    Incremental: unchanged articles are skipped, changed ones replaced, deleted ones removed.

    \b
    Example: newsqa ingest --corpus seeds
    Pages and feeds: newsqa ingest https://example.org/news/1.html --feed https://example.org/rss.xml
    """
    from retrieval.corpus import ingest as run_ingest
    from retrieval.index import build_embedder
    from retrieval.messages import shown_path

    settings = settings_with(corpus_dir=corpus, index_dir=index_dir)
    started = time.perf_counter()
    with user_errors():
        embedder = build_embedder(settings)
        with IngestProgress() as progress:
            report = run_ingest(settings, embedder, reset=reset, progress=progress, urls=urls or [],
                                feeds=[*settings.feeds, *(feed or [])])
    for line in report.fetched.warnings:
        errors.print(f"[yellow]warning:[/] {escape(line)}", soft_wrap=True)
    for copy in report.copies:
        errors.print(f"[yellow]note:[/] {escape(shown_path(copy.path))} {escape(copy.reason)}", soft_wrap=True)
    for skipped in report.skipped:
        errors.print(
            f"[yellow]warning:[/] skipped {escape(shown_path(skipped.path))}: {escape(skipped.reason)}", soft_wrap=True
        )
    for cut in report.cut:
        errors.print(f"[yellow]warning:[/] {escape(shown_path(cut.path))} {escape(cut.reason)}", soft_wrap=True)
    summary = (
        f"Indexed {report.chunks_total} chunks from {settings.corpus_dir} into {settings.index_dir}: "
        f"{len(report.added)} added, {len(report.updated)} updated, {len(report.removed)} removed, "
        f"{len(report.unchanged)} unchanged, {len(report.skipped)} skipped; "
        f"{report.chunks_embedded} chunks embedded in {time.perf_counter() - started:.1f}s."
    )
    if report.fetched.stored or report.fetched.known or report.fetched.unchanged_feeds:
        summary += (f" Web: {len(report.fetched.stored)} pages fetched, {len(report.fetched.known)} already stored, "
                    f"{len(report.fetched.unchanged_feeds)} feeds unchanged.")
    console.print(summary, soft_wrap=True)


@app.command()
def ask(
    question: Annotated[str, typer.Argument(help="The question, in English, Vietnamese, Bulgarian or Russian.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the Answer as JSON.")] = False,
    top_k: TopK = None,
    index_dir: IndexDir = None,
    mode: ModeOption = AnswerMode.auto,
    since: Since = None,
    until: Until = None,
) -> None:
    """Answer one question with numbered, quoted citations.

    \b
    Example: newsqa ask "When did Shoigu visit Pyongyang?"   (--mode extractive: offline quotes only)
    A question that starts with "-" goes after "--": newsqa ask -- "-5 °C in Moscow: when?"
    With NEWSQA_SERVER_URL set, a running newsqa serve answers (without --index-dir).
    """
    from bot.client import Unreachable

    if index_dir is None and is_utf8(question) and (remote := server()) is not None:
        try:
            with server_errors():
                # The text as this command prints it, rendered by the server for this terminal (bot/entry.py
                # takes the same path without loading this module).
                shown = {} if as_json else {"width": console.width,
                                            "color": console.is_terminal and not console.no_color}
                body = remote.request("POST", "/ask", {"question": question, "top_k": top_k, "mode": mode.value,
                                                        "since": since, "until": until, **shown}, text=not as_json)
        except Unreachable as exc:
            unreachable(remote, exc)
        else:
            sys.stdout.write(json.dumps(body, ensure_ascii=False, indent=2) + "\n" if as_json else body)
            return
    settings = settings_with(index_dir=index_dir)
    with user_errors():
        engine = open_engine(settings)
        answer = engine.ask(question, top_k=top_k, mode=mode.value, since=since, until=until)
    if as_json:
        sys.stdout.write(answer.model_dump_json(indent=2) + "\n")
    else:
        print_answer(answer, lambda: holdings(engine))


def is_utf8(text: str) -> bool:
    """Whether the text can be sent (a question typed in another encoding is refused in-process, in one line)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def server() -> Remote | None:
    """The running `newsqa serve` that NEWSQA_SERVER_URL names, or None (exit 2 when it is unusable)."""
    from bot.client import BadSetting, configured

    try:
        return configured()
    except BadSetting as exc:
        fail(str(exc), code=2)


def unreachable(remote: Remote, exc: Exception) -> None:
    """One line saying the server was not reached and the question is answered here instead."""
    errors.print(f"[dim]note: newsqa serve at {escape(remote.shown)} is not reachable ({escape(str(exc))}); "
                 "answering in-process[/]", soft_wrap=True, highlight=False)


@contextmanager
def server_errors() -> Iterator[None]:
    """An error the server answered with, as one line and exit code 1."""
    from bot.client import Refused

    try:
        yield
    except Refused as exc:
        fail(str(exc))


def holdings(engine: Engine) -> Holdings:
    """What an opened index holds, for the reply to small talk."""
    from bot import formatting as fmt

    return fmt.holdings(engine.sources(), engine.settings.example_questions)


@app.command()
def chat(
    top_k: TopK = None, index_dir: IndexDir = None, mode: ModeOption = AnswerMode.auto, since: Since = None,
    until: Until = None,
) -> None:
    """Ask questions one after another; follow-ups ("and when was that?") are read against the last
    few turns (rewritten by the model when one is configured). /sources lists the articles, /new
    forgets the conversation, /quit leaves. With NEWSQA_SERVER_URL set, a running newsqa serve answers.

    Example: newsqa chat
    """
    from bot.client import Unreachable

    remote = server() if index_dir is None else None
    if remote is not None:
        try:
            with server_errors():
                remote.request("GET", "/healthz")
        except Unreachable as exc:
            unreachable(remote, exc)
            remote = None
    if remote is not None:
        conversation: Conversation = RemoteConversation(remote, top_k, mode.value, since, until)
    else:
        settings = settings_with(index_dir=index_dir)
        with user_errors():
            conversation = LocalConversation(open_engine(settings), top_k, mode.value, since, until)
    converse(conversation)


class Conversation:
    """What `newsqa chat` asks, in-process or through a server."""

    def ask(self, question: str) -> Answer:
        """The answer to the next question, read against the conversation so far (and remembered)."""
        raise NotImplementedError

    def sources(self) -> list[dict[str, Any]]:
        """The indexed articles."""
        raise NotImplementedError

    def latest(self) -> list[dict[str, Any]]:
        """The newest articles."""
        raise NotImplementedError

    def clear(self) -> None:
        """Forget the conversation."""
        raise NotImplementedError

    def about(self) -> Holdings:
        """What the index holds, for the reply to small talk."""
        from bot import formatting as fmt

        return fmt.holdings(self.sources(), [])


class LocalConversation(Conversation):
    """Answered by an engine in this process, with a History of its own."""

    def __init__(self, engine: Engine, top_k: int | None, mode: str, since: str | None, until: str | None) -> None:
        from retrieval.question import History

        self.engine, self.top_k, self.mode, self.since, self.until = engine, top_k, mode, since, until
        self.history = History.from_settings(engine.settings)

    def ask(self, question: str) -> Answer:
        from bot.conversation import as_read, remember

        asked = self.engine.ask(question, top_k=self.top_k, mode=self.mode, history=self.history,  # type: ignore[arg-type]
                                since=self.since, until=self.until)
        answer = as_read(asked, question)
        remember(self.history, answer)
        return answer

    def sources(self) -> list[dict[str, Any]]:
        return self.engine.sources()

    def latest(self) -> list[dict[str, Any]]:
        return self.engine.latest()

    def clear(self) -> None:
        self.history.clear()

    def about(self) -> Holdings:
        return holdings(self.engine)


class RemoteConversation(Conversation):
    """Answered by `newsqa serve`: the conversation travels with every question as OpenAI messages, each
    answer as the chat text the server's completions carry (`bot/api.py`)."""

    KEPT = 40  # messages sent back (the server reads the last few turns of them)

    def __init__(self, remote: Remote, top_k: int | None, mode: str, since: str | None, until: str | None) -> None:
        self.remote, self.top_k, self.mode, self.since, self.until = remote, top_k, mode, since, until
        self.messages: list[dict[str, str]] = []

    def ask(self, question: str) -> Answer:
        from bot import api
        from bot.conversation import as_read
        from retrieval.models import Answer

        body = {"question": question, "top_k": self.top_k, "mode": self.mode, "since": self.since,
                "until": self.until, "messages": self.messages[-self.KEPT:]}
        answer = as_read(Answer.model_validate(self.remote.request("POST", "/ask", body)), question)
        self.messages += [{"role": "user", "content": question}, {"role": "assistant", "content": api.render(answer)}]
        return answer

    def sources(self) -> list[dict[str, Any]]:
        return self.remote.request("GET", "/sources")

    def latest(self) -> list[dict[str, Any]]:
        return self.remote.request("GET", "/latest")

    def clear(self) -> None:
        self.messages.clear()


def converse(conversation: Conversation) -> None:
    """The chat loop: questions and commands until /quit or end of input; a failed question is one line
    and the conversation goes on."""
    from retrieval.engine import as_text

    console.print("Ask a question about the news articles. [dim]/sources, /latest, /new, /help, /quit[/]")
    commands: dict[str, Callable[[], None]] = {
        "/sources": lambda: print_sources(conversation.sources()),
        "/latest": lambda: print_sources(conversation.latest(), title="Newest articles"),
        "/new": conversation.clear,
        "/help": lambda: console.print(
            "Type a question and press Enter. /sources lists the articles, /latest the newest; /new starts a new "
            "conversation; "
            "/quit leaves."
        ),
    }
    while True:
        try:
            line = console.input("[bold cyan]? [/]").strip()
        except (EOFError, KeyboardInterrupt):
            console.print()
            return
        if not line:
            continue
        if line in ("/quit", "/exit", "/q"):
            return
        try:
            line = as_text(line)  # a NUL typed or pasted in is a space, as in `ask`
            if line in commands:
                commands[line]()
                continue
            if re.fullmatch(r"/[A-Za-z_]+", line.split()[0]):  # a command, not a question starting with "/"
                errors.print(f"[yellow]unknown command {escape(line.split()[0])}; /help lists the commands[/]",
                             soft_wrap=True)
                continue
            print_answer(conversation.ask(line), conversation.about)
        except Exception as exc:  # the session and its history outlive any one question or command
            errors.print(f"[yellow]{escape(chat_fault(exc))}[/]", soft_wrap=True)
        console.print()


def chat_fault(exc: BaseException) -> str:
    """One line for a question chat could not answer; the session goes on."""
    from bot.client import Refused, Unreachable
    from retrieval.engine import QuestionError
    from retrieval.index import StoreError
    from retrieval.messages import first_line, strip_credentials

    if isinstance(exc, (QuestionError, StoreError, Refused)):
        return f"{exc} (the conversation goes on; ask again)"
    if isinstance(exc, Unreachable):
        return f"newsqa serve is not reachable ({exc}); the conversation goes on, ask again when it is back"
    return (
        f"could not answer that ({type(exc).__name__}: {strip_credentials(first_line(exc))}); "
        "the conversation goes on, ask again"
    )


def print_sources(rows: list[dict[str, Any]], title: str = "Indexed articles") -> None:
    """A table of the articles: where each is (its URL, or its file below the corpus, and other addresses of
    the same text), its title, outlet, language, date, chunks, and the story it shares with another."""
    from rich.table import Table

    table = Table("#", "article", "title", "outlet", "lang", "published", "chunks", title=title)
    stories: dict[str, int] = {}
    for row in rows:
        stories[str(row.get("story") or row["id"])] = stories.get(str(row.get("story") or row["id"]), 0) + 1
    for n, row in enumerate(rows, start=1):
        heading = str(row.get("title", ""))
        heading = heading if len(heading) <= 60 else heading[:59] + "…"
        where = escape(row["id"]) + "".join(f"\n[dim]also at {escape(url)}[/]" for url in row.get("also_at") or [])
        story = str(row.get("story") or row["id"])
        if stories.get(story, 0) > 1 and story != row["id"]:
            where += f"\n[dim]same story as {escape(story)}[/]"
        table.add_row(
            str(n), where, escape(heading), escape(str(row.get("outlet") or "—")), str(row.get("language", "")),
            str(row.get("published") or "—"), str(row.get("chunks", "")),
        )
    console.print(table)


@app.command()
def sources(
    as_json: Annotated[bool, typer.Option("--json", help="Print the list as JSON.")] = False,
    index_dir: IndexDir = None,
) -> None:
    """List the indexed articles: id or URL (and other addresses of the same text), title, outlet, language,
    date, chunk count, and which report the same story.

    Example: newsqa sources
    """
    settings = settings_with(index_dir=index_dir)
    with user_errors():
        rows = open_engine(settings).sources()
    if as_json:
        sys.stdout.write(json.dumps(rows, ensure_ascii=False, indent=2) + "\n")
    else:
        print_sources(rows)


@app.command(name="eval")
def evaluate(
    questions: Annotated[
        Path | None,
        typer.Option("--questions", help="Fixture file (YAML) of questions and expected answers "
                     "(default: the seed fixture that comes with newsqa, tests/fixtures/questions.yaml)."),
    ] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Also write the full report as JSON here.")] = None,
    top_k: TopK = None,
    index_dir: IndexDir = None,
    mode: ModeOption = AnswerMode.auto,
    since: Since = None,
    until: Until = None,
) -> None:
    """Run a fixture question set and print a scorecard (hit rates, context recall, abstention, latency).

    Context recall: how often the passages a model would read (no model is asked) hold the answer.

    \b
    Example: newsqa eval --questions my-questions.yaml --json report.json
    Generated answers, same scorecard: newsqa eval --mode llm
    """
    from rich.progress import Progress
    from rich.table import Table

    from retrieval.answer import bundled_questions, load_questions, run_eval

    settings = settings_with(index_dir=index_dir)
    questions = questions or bundled_questions()
    if json_out:
        check_report_path(json_out)  # before the eval runs, not after it, when the scorecard would be lost
    with user_errors():
        items = load_questions(questions)
        engine = open_engine(settings)
        with Progress(console=console.real, transient=True) as progress:
            task = progress.add_task("questions", total=len(items))
            answers: list[Answer] = []

            def ask_one(question: str) -> Answer:
                answers.append(engine.ask(question, top_k=top_k, mode=mode.value, since=since, until=until))
                return answers[-1]

            report = run_eval(items, ask_one, lambda _: progress.advance(task), read=engine.model_context)
    failures = [r for r in report.results if not r.passed]
    for result in failures:
        console.print(f"[red]✗[/] {escape(result.id)}: {escape('; '.join(result.reasons))}")
    card = report.scorecard
    table = Table("metric", "value", title=f"Scorecard: {questions}")
    rows = [
        ("questions (answerable / unanswerable)", f"{card.questions} ({card.answerable} / {card.unanswerable})"),
        ("passed", f"{card.passed} / {card.questions}"),
        ("source hit@1", f"{card.source_hit_at_1:.3f}"),
        ("source hit@3", f"{card.source_hit_at_3:.3f}"),
        ("answer in first quote", f"{card.answer_in_first_quote:.3f}"),
        ("answer in any quote", f"{card.answer_in_any_quote:.3f}"),
        (f"context recall ({settings.llm_passages} passages, {settings.llm_context_tokens} tokens)",
         "—" if card.context_recall is None else f"{card.context_recall:.3f}"),
        ("correct abstention", "—" if card.correct_abstention is None else f"{card.correct_abstention:.3f}"),
        ("false abstention", f"{card.false_abstention:.3f}"),
        ("latency p50 / p95", f"{card.latency_p50_ms:.0f} ms / {card.latency_p95_ms:.0f} ms"),
        ("answerable: answer / unsure / none", " / ".join(map(str, card.tiers_answerable.values()))),
    ]
    if card.unanswerable:
        rows.append(("unanswerable: answer / unsure / none", " / ".join(map(str, card.tiers_unanswerable.values()))))
    if card.smalltalk:
        replied = f"{card.smalltalk_replied} of {card.smalltalk} / {card.smalltalk_quoted}"
        rows.append(("small talk: replied / quoted", replied))
    for name, value in rows:
        table.add_row(name, value)
    console.print(table)
    if engine.answer_mode(mode.value) == "llm":
        print_generation_summary(answers, settings)
    if json_out:
        write_report(json_out, report.model_dump_json(indent=2))
        console.print(f"Full report written to {json_out}")


def check_report_path(path: Path) -> None:
    """One line and exit 1 when the report could not be written to `path`, found by trying to."""
    if path.is_dir():
        fail(f"--json {path} is a directory; pass a file name, e.g. --json {path / 'report.json'}")
    try:
        with tempfile.TemporaryFile(dir=path.parent):
            pass
        if path.exists() and not os.access(path, os.W_OK):
            raise PermissionError(13, "Permission denied")
    except OSError as exc:
        fail(f"cannot write the report to {path} ({exc.strerror or exc}); pass --json a path in a writable directory")


def write_report(path: Path, text: str) -> None:
    """Write the report whole or not at all: into a file beside it, then renamed over it."""
    with tempfile.NamedTemporaryFile("w", encoding="utf-8", dir=path.parent, prefix=f".{path.name}.",
                                     delete=False) as handle:
        handle.write(text)
    os.replace(handle.name, path)


def print_generation_summary(answers: list[Answer], settings: Settings) -> None:
    """Say which model the scorecard measured and how many answers it actually wrote."""
    from collections import Counter

    from retrieval.generate import describe_llm

    generated = sum(a.mode == "llm" for a in answers)
    gated = sum(a.mode == "extractive" and a.abstained and not a.note for a in answers)
    notes = Counter(a.note for a in answers if a.mode == "extractive" and a.note)
    console.print(
        f"Answers by {escape(describe_llm(settings))}: {generated} generated, "
        f"{gated} abstained before asking the model (weak passages), "
        f"{sum(notes.values())} fell back to extractive.",
        soft_wrap=True,
    )
    for note, count in notes.most_common():
        console.print(f"  [dim]{count} × {escape(note)}[/]", soft_wrap=True)


@app.command()
def feedback(
    export: Annotated[Path | None, typer.Option("--export", help="Write the 👎 answers here as fixture candidates "
                                                "(YAML: question, what was quoted) for a person to complete.")] = None,
    index_dir: IndexDir = None,
) -> None:
    """List readers' 👍 / 👎 on the bot's answers (kept beside the bot's state file, NEWSQA_FEEDBACK_FILE).

    \b
    Example: newsqa feedback --export candidates.yaml
    """
    from rich.table import Table

    from bot.feedback import FeedbackError, FeedbackStore, fixture_candidates

    settings = settings_with(index_dir=index_dir)
    store = FeedbackStore(settings.feedback_path)
    try:
        votes = store.votes()
    except FeedbackError as exc:
        fail(str(exc))
    if export:
        check_report_path(export)
        write_report(export, fixture_candidates(votes))
        down = len({v.question for v in votes if v.vote == "down"})
        console.print(f"{down} questions voted 👎 written to {export} as fixture candidates")
        return
    table = Table("answer", "vote", "chat", "question", "first quote", title=f"Feedback in {settings.feedback_path}")
    for voted in votes:
        first = voted.citations[0]["quote"] if voted.citations else voted.answer
        table.add_row(str(voted.answer_id), "👍" if voted.vote == "up" else "👎", str(voted.chat_id),
                      escape(voted.question), escape(first if len(first) <= 80 else first[:79] + "…"))
    console.print(table)
    ups = sum(v.vote == "up" for v in votes)
    console.print(f"{len(votes)} votes: {ups} 👍, {len(votes) - ups} 👎")


@app.command(name="bot")
def telegram_bot(
    webhook_url: Annotated[
        str | None, typer.Option("--webhook-url", help="HTTPS URL Telegram posts updates to (else polling).")
    ] = None,
    listen: Annotated[str, typer.Option("--listen", help="Address the webhook server binds.")] = "0.0.0.0",
    port: Annotated[int, typer.Option("--port", help="Port the webhook server listens on.")] = 8443,
    index_dir: IndexDir = None,
    verbose: Annotated[bool, typer.Option("--verbose", help="Debug logs (the token is redacted).")] = False,
) -> None:
    """Run the Telegram bot: long polling, or a webhook with --webhook-url. Needs TELEGRAM_BOT_TOKEN.

    Example: TELEGRAM_BOT_TOKEN=123:abc newsqa bot
    """
    from bot.app import StartupError, bot_token, build_application, run
    from bot.logs import configure_logging

    settings = settings_with(index_dir=index_dir)
    configure_logging(settings, verbose)
    try:
        bot_token(settings)
        with user_errors():
            engine = open_engine(settings)
        run(build_application(settings, engine), webhook_url=webhook_url, listen=listen, port=port)
    except StartupError as exc:
        fail(str(exc))


@app.command()
def serve(
    host: Annotated[str, typer.Option("--host", help="Address to listen on; without NEWSQA_API_TOKEN only a "
                                      "loopback one (127.0.0.1, ::1, localhost).")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=0, max=65535, help="Port to listen on (0: any free one).")] = 8000,
    index_dir: IndexDir = None,
    verbose: Annotated[bool, typer.Option("--verbose", help="Debug logs (the token is never logged).")] = False,
) -> None:
    """Serve the index over HTTP: an OpenAI-compatible chat API (model "newsqa") with citations, plus /ask,
    /sources and /healthz (docs/api.md). Ask and chat use it when NEWSQA_SERVER_URL points at it.

    Example: newsqa serve --host 127.0.0.1 --port 8000
    """
    from bot.logs import configure_logging
    from bot.server import StartupError, check_exposure
    from bot.server import serve as run_server

    settings = settings_with(index_dir=index_dir)
    configure_logging(settings, verbose)
    try:
        check_exposure(settings, host)  # before the index is opened: a refusal costs nothing
        with user_errors():
            engine = open_engine(settings)
        run_server(settings, engine, host, port, announce=lambda line: errors.print(escape(line), soft_wrap=True,
                                                                                     highlight=False))
    except StartupError as exc:
        fail(str(exc))


def show_version(value: bool) -> None:
    """Print the installed version and stop (`--version`)."""
    if value:
        from importlib.metadata import version

        sys.stdout.write(f"newsqa {version('newsqa')}\n")
        raise typer.Exit()


@app.callback()
def options(
    context: typer.Context,
    version: Annotated[
        bool, typer.Option("--version", callback=show_version, is_eager=True, help="Show the version and exit.")
    ] = False,
) -> None:
    """The options before any command (the app's help text is given to `typer.Typer` above)."""
    if context.invoked_subcommand not in ("bot", "serve"):  # these log with timestamps instead (bot/logs.py)
        show_warnings()


def main() -> None:
    """The console script's entry point (bot/entry.py), which answers `ask` through a server before this
    module is loaded."""
    from bot.entry import main as entry

    entry()


if __name__ == "__main__":
    main()
