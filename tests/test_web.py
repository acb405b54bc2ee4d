"""Pages and feeds from a real local news site into the index directory and the index: metadata kept,
every bad page or feed one warning line that costs nothing else, copies stored once, a re-ingest offline."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from retrieval.corpus.ingestion import ingest
from retrieval.corpus.web import WebStore, gather
from retrieval.engine import Engine
from retrieval.settings import Settings
from tests.fakes.news_site import BRIDGE, HARBOUR, SITE_NAME, NewsSite, Story


@pytest.fixture
def site() -> Iterator[NewsSite]:
    with NewsSite([HARBOUR, BRIDGE], slow_seconds=2.0) as running:
        yield running


def settings(tmp_path: Path, corpus: Path | None = None, **overrides: object) -> Settings:
    corpus = corpus or tmp_path / "corpus"
    corpus.mkdir(exist_ok=True)
    values = {"index_dir": tmp_path / "index", "corpus_dir": corpus, "allow_private_urls": True,
              "fetch_delay_seconds": 0.0, "fetch_timeout": 0.5, "fetch_max_mb": 0.5}
    return Settings(_env_file=None, **{**values, **overrides})


def test_a_feed_s_entries_are_stored_as_text_with_their_metadata(site: NewsSite, tmp_path: Path) -> None:
    config = settings(tmp_path)
    done = gather(config, [], [site.url("/feed.xml")])
    assert done.warnings == [] and sorted(done.stored) == [site.url("/news/bridge"), site.url("/news/harbour")]
    page = WebStore(config.web_dir).find(site.url("/news/harbour"))
    assert page is not None
    assert (page.title, page.outlet, page.published) == (HARBOUR.title, SITE_NAME, "2025-09-02")
    text = (config.web_dir / f"{page.key}.txt").read_text("utf-8")
    assert text.startswith(HARBOUR.title) and all(paragraph in text for paragraph in HARBOUR.body)
    assert "All rights reserved" not in text and "World" not in text  # the site's furniture is left out


def test_every_bad_page_and_feed_is_one_warning_line_and_the_good_ones_are_stored(
    site: NewsSite, tmp_path: Path
) -> None:
    bad = ["/nowhere", "/broken", "/slow", "/huge", "/image.png", "/loop-a", "/latin1.html", "/news/harbour"]
    site.extra_entries = bad
    config = settings(tmp_path)
    done = gather(config, [], [site.url("/feed.xml"), site.url("/bad.xml"), site.url("/missing-feed.xml")])
    assert sorted(done.stored) == [site.url("/news/bridge"), site.url("/news/harbour")]
    assert all("\n" not in line for line in done.warnings)
    expected = {
        "/nowhere": "answered HTTP 404", "/broken": "answered HTTP 500", "/slow": "timed out",
        "/huge": "larger than 0.5 MB", "/image.png": "is image/png, not text/html", "/loop-a": "redirects in a loop",
        "/latin1.html": "is not valid utf-8 as it declares",
        "/news/harbour": "lists " + site.url("/news/harbour") + " twice",
        "/bad.xml": "is not a valid RSS or Atom feed", "/missing-feed.xml": "answered HTTP 404",
    }
    for path, words in expected.items():
        assert sum(site.url(path) in line and words in line for line in done.warnings) == 1, (path, done.warnings)
    assert len(done.warnings) == len(expected)


def test_an_unchanged_feed_costs_one_request_on_the_next_run(site: NewsSite, tmp_path: Path) -> None:
    config = settings(tmp_path)
    gather(config, [], [site.url("/feed.xml")])
    again = gather(config, [], [site.url("/feed.xml")])
    assert again.unchanged_feeds == [site.url("/feed.xml")] and again.stored == []
    assert site.requests["/feed.xml"] == 2 and site.conditional["/feed.xml"] == 1
    assert site.requests["/news/harbour"] == 1  # a stored entry is not fetched again


def test_a_feed_whose_entry_failed_is_read_whole_again_and_the_entry_retried(site: NewsSite, tmp_path: Path) -> None:
    site.extra_entries = ["/news/later"]
    config = settings(tmp_path)
    first = gather(config, [], [site.url("/feed.xml")])
    assert any("/news/later" in line and "HTTP 404" in line for line in first.warnings)
    site.add(Story("later", "Later story", ["Published only after the first visit, this story is long enough. " * 3],
                   "2025-09-04"))
    site.extra_entries = []
    second = gather(config, [], [site.url("/feed.xml")])
    assert site.url("/news/later") in second.stored and second.unchanged_feeds == []


def test_the_same_article_at_a_second_address_is_stored_once_and_noted_as_also_there(
    site: NewsSite, tmp_path: Path
) -> None:
    config = settings(tmp_path)
    done = gather(config, [site.url("/news/harbour"), site.url("/copy/harbour")], [])
    assert done.stored == [site.url("/news/harbour")]
    [page] = WebStore(config.web_dir).pages.values()
    assert page.also_at == [site.url("/copy/harbour")]
    assert len(list(config.web_dir.glob("*.txt"))) == 1


@pytest.mark.slow
def test_pages_are_indexed_cited_with_outlet_date_and_link_and_read_again_offline(
    site: NewsSite, tmp_path: Path, embedder: object
) -> None:
    config = settings(tmp_path)
    first = ingest(config, embedder, feeds=[site.url("/feed.xml")])
    assert sorted(first.added) == [site.url("/news/bridge"), site.url("/news/harbour")]
    # The mirror has no canonical link to the original, but the same text: indexed once, noted on the original.
    mirrored = ingest(config, embedder, urls=[site.url("/mirror/harbour")], feeds=[])
    assert [c.reason for c in mirrored.copies] == [f"has the same text as {site.url('/news/harbour')}; indexed once, "
                                                   "noted as also at"]
    assert mirrored.added == [] and mirrored.chunks_embedded == 0
    rows = {row["id"]: row for row in Engine(config, embedder=embedder).sources()}
    assert set(rows) == {site.url("/news/bridge"), site.url("/news/harbour")}
    assert rows[site.url("/news/harbour")]["also_at"] == [site.url("/mirror/harbour")]
    assert rows[site.url("/news/harbour")]["outlet"] == SITE_NAME

    answer = Engine(config, embedder=embedder).ask("How long is the new bridge over the Danube?")
    first_citation = answer.citations[0]
    assert (first_citation.url, first_citation.outlet, first_citation.published) == (
        site.url("/news/bridge"), SITE_NAME, "2025-09-01")
    stored = WebStore(config.web_dir).find(site.url("/news/bridge"))
    text = (config.web_dir / f"{stored.key}.txt").read_text("utf-8")
    assert text[first_citation.start : first_citation.end] == first_citation.quote

    site.stop()  # offline: a rebuild reads the stored pages, not the site
    again = ingest(config, embedder, reset=True, feeds=[])
    assert sorted(again.added) == sorted(first.added)
    assert Engine(config, embedder=embedder).sources() == list(rows.values())


@pytest.mark.slow
def test_a_feed_that_fails_later_loses_nothing_already_indexed(
    site: NewsSite, tmp_path: Path, embedder: object
) -> None:
    config = settings(tmp_path)
    ingest(config, embedder, feeds=[site.url("/feed.xml")])
    site.stop()
    report = ingest(config, embedder, feeds=[site.url("/feed.xml")])
    assert len(report.fetched.warnings) == 1 and "could not be fetched" in report.fetched.warnings[0]
    assert report.removed == [] and len(report.unchanged) == 2
    assert json.loads((config.web_dir / "validators.json").read_text("utf-8"))


@pytest.mark.parametrize(("variable", "value", "words"), [
    ("NEWSQA_REFRESH_SECONDS", "5", "NEWSQA_REFRESH_SECONDS=5"),
    ("NEWSQA_FEEDS", "ftp://example.org/feed", "is not an http(s) address"),
    ("NEWSQA_FETCH_MAX_REDIRECTS", "50", "NEWSQA_FETCH_MAX_REDIRECTS=50"),
])
def test_a_bad_fetch_setting_is_one_line_naming_it(
    variable: str, value: str, words: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from retrieval.settings import SettingsError, get_settings

    monkeypatch.setenv(variable, value)
    get_settings.cache_clear()
    try:
        with pytest.raises(SettingsError) as raised:
            get_settings()
    finally:
        get_settings.cache_clear()
    assert words in str(raised.value) and "\n" not in str(raised.value)


@pytest.mark.slow
def test_newsqa_ingest_takes_pages_and_feeds_and_sources_show_where_each_came_from(
    site: NewsSite, tmp_path: Path
) -> None:
    import os
    import subprocess
    import sys

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "note.txt").write_text("Sofia traffic\n\nTrams in Sofia ran late on Monday after a power cut.\n", "utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NEWSQA_", "CHROMA_"))}
    env.update(NEWSQA_INDEX_DIR=str(tmp_path / "index"), NEWSQA_CORPUS_DIR=str(corpus), NEWSQA_LLM="none",
               NEWSQA_ALLOW_PRIVATE_URLS="true", NEWSQA_FETCH_DELAY_SECONDS="0")
    cli = [sys.executable, "-c", "from bot.cli import main; main()"]
    done = subprocess.run([*cli, "ingest", site.url("/nowhere"), site.url("/copy/harbour"), "--feed",
                           site.url("/feed.xml")], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr
    warnings = [line for line in done.stderr.splitlines() if line.startswith("warning:")]
    # the 404 alone: the feed's harbour entry is the page fetched as /copy/harbour (its canonical URL says so)
    assert len(warnings) == 1 and site.url("/nowhere") in warnings[0] and "HTTP 404" in warnings[0]
    assert "3 added" in done.stdout and "Web: 2 pages fetched" in done.stdout
    listed = subprocess.run([*cli, "sources", "--json"], env=env, cwd=tmp_path, capture_output=True, text=True,
                            timeout=300)
    rows = {row["id"]: row for row in json.loads(listed.stdout)}
    assert set(rows) == {"note.txt", site.url("/news/harbour"), site.url("/news/bridge")}
    assert rows[site.url("/news/harbour")]["also_at"] == [site.url("/copy/harbour")]
    assert (rows[site.url("/news/bridge")]["outlet"], rows[site.url("/news/bridge")]["published"]) == (
        SITE_NAME, "2025-09-01")
