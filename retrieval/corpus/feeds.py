"""RSS and Atom feeds, read with feedparser from what `Fetcher` fetched (so the same limits, address checks
and conditional GET apply): the entries' links, titles and dates, newest first."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

import feedparser

from retrieval.corpus.fetching import FEED_TYPES, Fetcher, FetchError, Validators, headers_of
from retrieval.messages import first_line


@dataclass(frozen=True)
class Entry:
    """One item of a feed: the page it links to, its title and date, and the feed's title (the outlet)."""

    url: str
    title: str = ""
    published: str | None = None  # ISO date
    outlet: str | None = None


@dataclass
class FeedRead:
    """A feed's entries (none when it was unchanged), and what was odd about it, one line each."""

    entries: list[Entry] = field(default_factory=list)
    unchanged: bool = False
    warnings: list[str] = field(default_factory=list)
    validators: dict[str, str] = field(default_factory=dict)  # to keep once every entry is stored


def read_feed(fetcher: Fetcher, url: str, validators: Validators, most: int) -> FeedRead:
    """The newest `most` entries of the feed at `url`; FetchError when it cannot be fetched or is no feed."""
    fetched = fetcher.get(url, FEED_TYPES, validators.get(url))
    if fetched.status == 304:
        return FeedRead(unchanged=True)
    parsed = feedparser.parse(fetched.data, response_headers=headers_of(fetched))
    if parsed.bozo and not any(item.get("link") for item in parsed.entries):
        # feedparser's lenient parser makes an empty entry of broken XML: nothing of it can be used.
        raise FetchError(f"is not a valid RSS or Atom feed ({first_line(parsed.get('bozo_exception', 'no entries'))})")
    read = FeedRead()
    if parsed.bozo:
        problem = first_line(parsed.bozo_exception)
        read.warnings.append(f"feed {url} is not well-formed ({problem}); its entries were read anyway")
    outlet = (parsed.feed.get("title") or "").strip() or None
    seen: set[str] = set()
    for item in parsed.entries:
        link = (item.get("link") or "").strip()
        if not link:
            read.warnings.append(f"feed {url} has an entry without a link ({item.get('title', '')!r}); skipped")
            continue
        link = urljoin(fetched.url, link)
        if urlsplit(link).scheme.lower() not in ("http", "https"):
            read.warnings.append(f"feed {url} links to {link}, not an http(s) page; skipped")
            continue
        if link in seen:
            read.warnings.append(f"feed {url} lists {link} twice; it is fetched once")
            continue
        seen.add(link)
        read.entries.append(Entry(link, (item.get("title") or "").strip(), _date(item), outlet))
    # Newest first, so that a long feed's limit keeps the news; undated entries keep their place at the end.
    read.entries.sort(key=lambda e: e.published or "", reverse=True)
    read.entries = read.entries[:most]
    read.validators = fetched.validators
    return read


def _date(item: feedparser.FeedParserDict) -> str | None:
    """An entry's publication (else update) date as an ISO date."""
    for key in ("published_parsed", "updated_parsed"):
        parsed = item.get(key)
        if parsed:
            return time.strftime("%Y-%m-%d", parsed)
    return None
