"""Fetching over real HTTP from a local news site: limits, redirects, content types, conditional GET,
politeness and the address rules."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from retrieval.corpus.fetching import FEED_TYPES, PAGE_TYPES, Fetcher, FetchError, check_address, user_agent
from retrieval.settings import Settings
from tests.fakes.news_site import NewsSite, Story

STORY = Story("harbour", "Harbour reopens after storm", ["The harbour of Varna reopened on Tuesday. " * 5],
              "2025-09-02")


@pytest.fixture
def site() -> Iterator[NewsSite]:
    with NewsSite([STORY], slow_seconds=2.0) as running:
        yield running


def settings(tmp_path: Path, **overrides: object) -> Settings:
    values = {"index_dir": tmp_path, "allow_private_urls": True, "fetch_delay_seconds": 0.0, "fetch_timeout": 0.5}
    return Settings(_env_file=None, **{**values, **overrides})


def fetch_error(tmp_path: Path, url: str, accept: tuple[str, ...] = PAGE_TYPES, **overrides: object) -> str:
    with Fetcher(settings(tmp_path, **overrides)) as fetcher, pytest.raises(FetchError) as raised:
        fetcher.get(url, accept)
    return str(raised.value)


def test_a_page_is_fetched_with_an_honest_user_agent(site: NewsSite, tmp_path: Path) -> None:
    with Fetcher(settings(tmp_path)) as fetcher:
        fetched = fetcher.get(site.url("/news/harbour"), PAGE_TYPES)
    assert fetched.status == 200 and b"Varna" in fetched.data and fetched.content_type == "text/html"
    assert site.user_agents == {user_agent(settings(tmp_path))}
    assert user_agent(settings(tmp_path)).startswith("newsqa/")


def test_404_and_500_are_errors_naming_the_status(site: NewsSite, tmp_path: Path) -> None:
    assert "HTTP 404" in fetch_error(tmp_path, site.url("/nowhere"))
    assert "HTTP 500" in fetch_error(tmp_path, site.url("/broken"))


def test_a_server_too_slow_to_answer_times_out(site: NewsSite, tmp_path: Path) -> None:
    started = time.monotonic()
    assert "timed out after 0.5s" in fetch_error(tmp_path, site.url("/slow"))
    assert time.monotonic() - started < 2.0


def test_a_page_larger_than_the_cap_is_refused_without_reading_it_all(site: NewsSite, tmp_path: Path) -> None:
    assert "larger than 0.1 MB (NEWSQA_FETCH_MAX_MB)" in fetch_error(tmp_path, site.url("/huge"), fetch_max_mb=0.1)


def test_a_page_that_is_not_html_is_refused_by_its_content_type(site: NewsSite, tmp_path: Path) -> None:
    assert "is image/png, not text/html" in fetch_error(tmp_path, site.url("/image.png"))


def test_a_feed_url_serving_html_is_refused_as_not_a_feed(site: NewsSite, tmp_path: Path) -> None:
    assert "is text/html, not application/rss+xml" in fetch_error(tmp_path, site.url("/news/harbour"), FEED_TYPES)


def test_a_redirect_loop_is_named(site: NewsSite, tmp_path: Path) -> None:
    message = fetch_error(tmp_path, site.url("/loop-a"))
    assert "redirects in a loop" in message and "/loop-b" in message


def test_more_redirects_than_allowed_are_refused(site: NewsSite, tmp_path: Path) -> None:
    assert "NEWSQA_FETCH_MAX_REDIRECTS" in fetch_error(tmp_path, site.url("/loop-a"), fetch_max_redirects=0)


def test_a_redirect_is_checked_like_the_first_address(site: NewsSite, tmp_path: Path) -> None:
    assert "is not an http(s) address (file:)" in fetch_error(tmp_path, site.url("/to-file"))


def test_loopback_is_refused_unless_private_urls_are_allowed(site: NewsSite, tmp_path: Path) -> None:
    message = fetch_error(tmp_path, site.url("/news/harbour"), allow_private_urls=False)
    assert "127.0.0.1, a loopback, private or link-local address" in message
    assert "NEWSQA_ALLOW_PRIVATE_URLS=true" in message
    assert site.requests["/news/harbour"] == 0


@pytest.mark.parametrize("url", ["http://10.1.2.3/", "http://192.168.0.1/x", "http://169.254.169.254/latest",
                                 "http://[::1]:8080/", "http://localhost/", "http://0.0.0.0/"])
def test_private_link_local_and_loopback_addresses_are_refused(url: str) -> None:
    with pytest.raises(FetchError, match="loopback, private or link-local"):
        check_address(url, allow_private=False)


def test_a_public_address_passes_the_check() -> None:
    check_address("https://93.184.216.34/news", allow_private=False)  # a literal address: nothing is resolved


@pytest.mark.parametrize("url", ["ftp://example.org/feed", "file:///etc/passwd", "javascript:alert(1)"])
def test_only_http_and_https_are_fetched(url: str) -> None:
    with pytest.raises(FetchError, match=r"not an http\(s\) address"):
        check_address(url, allow_private=True)


def test_an_unchanged_feed_costs_one_conditional_request_and_no_body(site: NewsSite, tmp_path: Path) -> None:
    with Fetcher(settings(tmp_path)) as fetcher:
        first = fetcher.get(site.url("/feed.xml"), FEED_TYPES)
        again = fetcher.get(site.url("/feed.xml"), FEED_TYPES, first.validators)
    assert first.status == 200 and first.validators["etag"] and first.validators["last_modified"]
    assert again.status == 304 and again.data == b""
    assert site.requests["/feed.xml"] == 2 and site.conditional["/feed.xml"] == 1


def test_requests_to_one_host_are_spaced_by_the_politeness_delay(site: NewsSite, tmp_path: Path) -> None:
    with Fetcher(settings(tmp_path, fetch_delay_seconds=0.3)) as fetcher:
        for _ in range(3):
            fetcher.get(site.url("/news/harbour"), PAGE_TYPES)
    times = site.times["/news/harbour"]
    assert min(b - a for a, b in itertools.pairwise(times)) >= 0.28
