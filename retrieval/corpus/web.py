"""Pages from the web, kept under the index directory (`NEWSQA_INDEX_DIR/web`) as the text trafilatura
extracted and a JSON file of their metadata (URL, other URLs of the same page, outlet, title, author, date),
so quotes are exact slices of a stored file and `newsqa ingest` reads them again without the network.

`gather` fetches the pages given and the entries of the feeds given into the store; each page or feed that
fails is one warning and never stops the others, and nothing stored before is lost.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from retrieval.corpus.feeds import Entry, read_feed
from retrieval.corpus.fetching import PAGE_TYPES, Fetched, Fetcher, FetchError, Validators, text_of
from retrieval.messages import first_line
from retrieval.settings import Settings

log = logging.getLogger(__name__)


@dataclass
class Page:
    """A stored page's metadata (its text is in `<key>.txt` beside its `<key>.json`)."""

    url: str  # the canonical URL: the article's id
    key: str
    title: str = ""
    outlet: str | None = None
    author: str | None = None
    published: str | None = None
    fetched: str = ""
    also_at: list[str] = field(default_factory=list)  # other addresses that served the same page


def normal_url(url: str) -> str:
    """A URL as pages are told apart: scheme and host lower-cased, no fragment, no trailing slash on a path."""
    parts = urlsplit(url.strip())
    path = parts.path.rstrip("/") or "/"
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), path, parts.query, ""))


class WebStore:
    """The pages fetched into one index, by canonical URL and by every address they were found at."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.pages: dict[str, Page] = {}
        self._by_address: dict[str, str] = {}
        stored = []
        for meta in sorted(directory.glob("*.json")) if directory.is_dir() else []:
            if meta.name == VALIDATORS:
                continue
            try:
                page = Page(**json.loads(meta.read_text("utf-8")))
            except (OSError, ValueError, TypeError) as exc:
                log.warning("the stored page %s is unreadable (%s); it is left out until fetched again", meta, exc)
                continue
            if (directory / f"{page.key}.txt").is_file():
                stored.append(page)
        # First fetched first: a rebuild keeps the page that was the article, and its later copies stay copies.
        for page in sorted(stored, key=lambda page: (page.fetched, page.url)):
            self._remember(page)

    def _remember(self, page: Page) -> None:
        self.pages[page.url] = page
        for address in (page.url, *page.also_at):
            self._by_address[normal_url(address)] = page.url

    def find(self, url: str) -> Page | None:
        """The stored page served at `url` (its canonical URL or another address of it)."""
        found = self._by_address.get(normal_url(url))
        return self.pages.get(found) if found else None

    def text_path(self, page: Page) -> Path:
        """The file holding a page's extracted text."""
        return self.directory / f"{page.key}.txt"

    def put(self, page: Page, text: str) -> None:
        """Store a page: its text first, then its metadata (which marks it complete), each whole or not at all."""
        self.directory.mkdir(parents=True, exist_ok=True)
        _write(self.text_path(page), text)
        self.save(page)

    def save(self, page: Page) -> None:
        """Write a page's metadata file."""
        _write(self.directory / f"{page.key}.json", json.dumps(asdict(page), ensure_ascii=False, indent=1))
        self._remember(page)

    def add_address(self, page: Page, url: str) -> None:
        """Note another address that served the same page."""
        if normal_url(url) not in {normal_url(a) for a in (page.url, *page.also_at)}:
            page.also_at.append(url)
            self.save(page)


VALIDATORS = "validators.json"


@dataclass
class Gathered:
    """What fetching did: pages stored, feeds found unchanged, and one warning line per failure."""

    stored: list[str] = field(default_factory=list)
    known: list[str] = field(default_factory=list)  # already stored: not fetched again
    unchanged_feeds: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def gather(
    settings: Settings, urls: list[str], feeds: list[str], fetcher_factory: Callable[[Settings], Fetcher] = Fetcher
) -> Gathered:
    """Fetch `urls` (again, if changed) and the new entries of `feeds` into the index's web store."""
    store = WebStore(settings.web_dir)
    validators = Validators(settings.web_dir / VALIDATORS)
    done = Gathered()
    with fetcher_factory(settings) as fetcher:
        for url in dict.fromkeys(urls):
            _fetch_page(fetcher, store, validators, Entry(url), done, again=True)
        for feed in dict.fromkeys(feeds):
            try:
                read = read_feed(fetcher, feed, validators, settings.max_feed_entries)
            except FetchError as exc:
                done.warnings.append(f"feed {feed} {exc}; skipped (nothing indexed from it before is lost)")
                continue
            done.warnings.extend(read.warnings)
            if read.unchanged:
                done.unchanged_feeds.append(feed)
                continue
            failed = False
            for entry in read.entries:
                failed |= not _fetch_page(fetcher, store, validators, entry, done, again=False)
            # An entry that failed is tried again next run: the feed must not pass for unchanged then.
            validators.put(feed, {} if failed else read.validators)
    try:
        validators.save()
    except OSError as exc:
        done.warnings.append(f"cannot write {validators.path} ({exc.strerror}); feeds are fetched whole next time")
    return done


def _fetch_page(fetcher: Fetcher, store: WebStore, validators: Validators, entry: Entry, done: Gathered,
                again: bool) -> bool:
    """Fetch one page into the store (a feed's entry only when it is not stored yet); False when it failed."""
    known = store.find(entry.url)
    if known is not None and not again:
        done.known.append(known.url)
        return True
    try:
        fetched = fetcher.get(entry.url, PAGE_TYPES, validators.get(entry.url) if known else None)
        if fetched.status == 304:
            done.known.append(known.url if known else entry.url)
            return True
        page, text = extract(fetched, entry)
    except FetchError as exc:
        done.warnings.append(f"page {entry.url} {exc}; skipped" + ("" if known is None else " (the stored copy stays)"))
        return False
    except Exception as exc:  # an extractor's bug costs this page, not the run
        log.debug("extracting %s failed", entry.url, exc_info=True)
        problem = f"{type(exc).__name__}: {first_line(exc)}"
        done.warnings.append(f"page {entry.url} could not be processed ({problem}); skipped")
        return False
    same = store.find(page.url) or store.find(fetched.url)
    try:
        if same is not None and (known is None or same.url != known.url):
            # The same article at another address (its canonical URL says so): stored once, noted as also there.
            store.add_address(same, entry.url)
            done.warnings.append(f"page {entry.url} is {same.url} (same canonical URL); indexed once, noted as also at")
            return True
        if known is not None:
            page.key, page.also_at = known.key, known.also_at
        for address in (entry.url, fetched.url):
            if normal_url(address) != normal_url(page.url) and address not in page.also_at:
                page.also_at.append(address)
        store.put(page, text)
    except OSError as exc:
        done.warnings.append(f"page {entry.url} cannot be stored in {store.directory} ({exc.strerror}); skipped")
        return False
    validators.put(entry.url, fetched.validators)
    done.stored.append(page.url)
    return True


def extract(fetched: Fetched, entry: Entry) -> tuple[Page, str]:
    """A fetched page's metadata and the text kept of it (its headline, then its main text); FetchError when
    it has no article text or is not in the encoding it declares."""
    import trafilatura

    # A declared charset is held to; without one trafilatura reads the page's own <meta charset>.
    source: str | bytes = text_of(fetched) if fetched.charset else fetched.data
    document = trafilatura.bare_extraction(
        source, url=fetched.url, with_metadata=True, include_comments=False, include_tables=False,
        include_images=False,
    )
    body = (document.text or "").strip() if document is not None else ""
    if not body:
        raise FetchError("has no article text that could be extracted")
    title = (document.title or entry.title or "").strip()
    text = body if not title or body.startswith(title) else f"{title}\n\n{body}"
    canonical = document.url if document.url and urlsplit(document.url).scheme in ("http", "https") else fetched.url
    host = (urlsplit(fetched.url).hostname or "").removeprefix("www.")
    page = Page(
        url=canonical,
        key=hashlib.sha1(normal_url(canonical).encode()).hexdigest()[:16],
        title=title,
        outlet=(document.sitename or "").strip() or entry.outlet or host or None,
        author=(document.author or "").strip() or None,
        published=(document.date or "")[:10] or entry.published,
        fetched=datetime.now(timezone.utc).isoformat(timespec="microseconds"),
    )
    return page, text


def _write(path: Path, text: str) -> None:
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text, "utf-8")
    os.replace(partial, path)
