"""Cross-script bridges: dates, places and numbers reduced to one form whatever the language or script.

The embedder does not know that "July 27", "27 июля", "27/7" and "ngày 27 tháng 7" are one date, or
that Pyongyang, Bình Nhưỡng, Пхенян and Пхеньян are one city. Month and weekday names come from CLDR
through Babel, places from Babel's territory and time-zone city names and pycountry's countries, all in
the languages newsqa reads; nothing here is a hand list about one corpus. Everything is reduced to
tokens ("d:07-27", "m:07", "y:2019", "w:2", "p:KP", "n:15000") that match across languages.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import TypeVar

from retrieval.text import words

LANGUAGES = ("en", "vi", "bg", "ru")

_DAY_MONTH = r"(?<![\d.,/-])(\d{1,2})[/.-](\d{1,2})(?:[/.-](\d{4}|\d{2}))?(?![\d/]|[.,-]\d)"
_ISO = r"(?<!\d)(\d{4})-(\d{2})-(\d{2})(?!\d)"
_YEAR = r"(?<![\d.,])((?:1[5-9]|20)\d{2})(?![\d.,]\d)"
_VI_DATE = r"(?:ngày\s+)?(\d{1,2})\s+tháng\s+(\d{1,2})|tháng\s+(\d{1,2})"
_NUMBER = re.compile(r"(?<![\w.,])\d+(?:[.,\u00a0\u202f ]\d{3})*(?:[.,]\d+)?(?!\w)")
_GROUP = re.compile(r"(?<=\d)[.,\u00a0\u202f ](?=\d{3}(?!\d))")


def _cldr_names(kind: str) -> dict[str, int]:
    """Lower-cased month (1–12) or weekday (0 = Monday) names of every language, in every CLDR form."""
    from babel import Locale

    names: dict[str, int] = {}
    for code in LANGUAGES:
        table = getattr(Locale(code), kind)
        for context in ("format", "stand-alone"):
            for width in ("wide", "abbreviated"):
                for number, name in table[context][width].items():
                    name = name.lower().strip(".")
                    if len(name) >= 3 and not any(ch.isdigit() for ch in name):
                        names[name] = number
    return names


@lru_cache(maxsize=1)
def _calendar() -> tuple[re.Pattern[str], dict[str, int], re.Pattern[str], dict[str, int]]:
    """Regexes for month and weekday names, and the name → number maps they index."""
    months, days = _cached("calendar", lambda: (_cldr_names("months"), _cldr_names("days")))

    def pattern(names: dict[str, int]) -> str:
        # Slavic names inflect ("июль", "июле", "в июле"): the stem of a long name takes up to two endings.
        forms = []
        for name in sorted(names, key=len, reverse=True):
            forms.append(re.escape(name))
            if stem := _stem(name):
                forms.append(re.escape(stem) + r"[а-я]{0,2}")
        return "|".join(forms)

    month = re.compile(rf"(?<!\w)(?:(\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?)?({pattern(months)})(?!\w)"
                       rf"(?:\s+(\d{{1,2}})(?:st|nd|rd|th)?(?![\d:]))?", re.I)
    day = re.compile(rf"(?<!\w)({pattern(days)})(?!\w)", re.I)
    return month, months, day, days


def _stem(name: str) -> str | None:
    """The stem a Slavic month or weekday name inflects from (июнь → июн), or None."""
    return name[:-1] if len(name) >= 4 and re.fullmatch(r"[а-я]+[ьйаяе]", name) else None


def _lookup(names: dict[str, int], found: str) -> int | None:
    found = found.lower()
    if found in names:
        return names[found]
    for name, number in names.items():
        if (stem := _stem(name)) and found.startswith(stem):
            return number
    return None


def _date(day: int, month: int) -> str | None:
    return f"d:{month:02d}-{day:02d}" if 1 <= day <= 31 and 1 <= month <= 12 else None


@lru_cache(maxsize=65536)
def dates(text: str) -> frozenset[str]:
    """Date tokens of a text: full dates "d:MM-DD", months "m:MM", years "y:YYYY", weekdays "w:N"."""
    month_re, months, day_re, days = _calendar()
    found: set[str] = set()

    def add(day: int | None, month: int | None) -> None:
        if month is not None and 1 <= month <= 12:
            found.add(f"m:{month:02d}")
            if day is not None and (token := _date(day, month)):
                found.add(token)

    for m in re.finditer(_ISO, text):
        found.add(f"y:{m.group(1)}")
        add(int(m.group(3)), int(m.group(2)))
    for m in re.finditer(_DAY_MONTH, text):
        a, b = int(m.group(1)), int(m.group(2))
        if "." in m.group(0) and not m.group(3):
            continue  # 2.5 is a number; a dotted date carries its year (27.7.2023)
        if b <= 12:
            add(a, b)  # day first, as in every language newsqa reads
        elif a <= 12:
            add(b, a)  # 9/13: only month-first reads as a date
    for m in re.finditer(_VI_DATE, text, re.I):
        if m.group(3):
            add(None, int(m.group(3)))
        else:
            add(int(m.group(1)), int(m.group(2)))
    for m in month_re.finditer(text):
        number = _lookup(months, m.group(2))
        if number is None or (m.group(2).lower() == "may" and not (m.group(1) or m.group(3))):
            continue  # "may" alone is the verb
        day = m.group(1) or m.group(3)
        add(int(day) if day else None, number)
    for m in day_re.finditer(text):
        number = _lookup(days, m.group(1))
        if number is not None:
            found.add(f"w:{number}")
    for m in re.finditer(r"(?:thứ\s+(hai|ba|tư|năm|sáu|bảy)|chủ\s+nhật)(?!\w)", text, re.I):
        # Vietnamese weekdays count days ("thứ hai" = second day = Monday); CLDR writes them capitalised.
        order = ["hai", "ba", "tư", "năm", "sáu", "bảy"]
        found.add(f"w:{order.index(m.group(1).lower()) if m.group(1) else 6}")
    found.update(f"y:{m.group(1)}" for m in re.finditer(_YEAR, text))
    return frozenset(found)


def _key(name: str) -> tuple[str, ...]:
    return tuple(w.replace("'", "") for w in words(name))


Gazetteer = tuple[dict[tuple[str, ...], frozenset[str]], int]
T = TypeVar("T")


@lru_cache(maxsize=1)
def _gazetteer() -> Gazetteer:
    """Folded place name (as a word tuple) → place ids, and the longest name's length in words."""
    return _cached("gazetteer", _build_gazetteer)


def _cached(kind: str, build: Callable[[], T]) -> T:
    """What `build` returns from Babel's and pycountry's data, built once per user and read back from the
    user's cache by later processes (the gazetteer and the calendar names took a quarter of a second of
    a cold `newsqa ask`); a change to this module, the word folding or either library rebuilds it."""
    import pickle

    import babel
    import pycountry

    from retrieval import text
    from retrieval.index import cached, entry_name, source_digest

    made_of = (babel.__version__, pycountry.__version__, source_digest(__file__), source_digest(text.__file__))

    def save(value: T, folder: Path) -> None:
        (folder / f"{kind}.pickle").write_bytes(pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL))

    def load(folder: Path) -> T:
        return pickle.loads((folder / f"{kind}.pickle").read_bytes())  # written by `save` above

    return cached(entry_name(kind, *made_of), build, save, load)


def _build_gazetteer() -> Gazetteer:
    """Folded place name (as a word tuple) → place ids, from CLDR (Babel) and ISO 3166 (pycountry)."""
    import pycountry
    from babel import Locale

    places: dict[tuple[str, ...], set[str]] = {}

    def add(name: str, place: str) -> None:
        key = _key(name)
        if not key or (len(key) == 1 and len(key[0]) < 3):
            return
        places.setdefault(key, set()).add(place)
        if len(key) == 1 and len(key[0]) >= 5:
            places.setdefault((key[0][:-1],), set()).add(place)  # inflected forms meet at the stem

    for code in LANGUAGES:
        locale = Locale(code)
        for territory, name in locale.territories.items():
            if territory.isalpha() and len(territory) == 2:
                add(name, f"p:{territory}")
        for zone, data in locale.time_zones.items():
            if "city" in data:
                add(data["city"], f"p:{zone}")
    zones = {zone for code in LANGUAGES for zone in Locale(code).time_zones}
    for zone in zones:
        if "/" in zone and not zone.startswith("Etc/"):  # the English name is the zone's own last part
            add(zone.rsplit("/", 1)[1].replace("_", " "), f"p:{zone}")
    for country in pycountry.countries:
        for field in ("name", "common_name", "official_name"):
            if hasattr(country, field):
                add(getattr(country, field), f"p:{country.alpha_2}")
    longest = max(len(k) for k in places)
    return {k: frozenset(v) for k, v in places.items()}, longest


@lru_cache(maxsize=65536)
def places(text: str) -> frozenset[str]:
    """Place ids named in a text (countries, and cities CLDR knows), in any of newsqa's languages."""
    gazetteer, longest = _gazetteer()
    folded = [w.replace("'", "") for w in words(text)]
    found: set[str] = set()
    i = 0
    while i < len(folded):
        for n in range(min(longest, len(folded) - i), 0, -1):
            key = tuple(folded[i : i + n])
            ids = gazetteer.get(key)
            if ids is None and n == 1 and len(key[0]) >= 5:  # Россию, Китае: a case ending on a short name
                ids = gazetteer.get((key[0][:-1],)) or (len(key[0]) >= 6 and gazetteer.get((key[0][:-2],))) or None
            if ids:
                found.update(ids)
                i += n
                break
        else:
            i += 1
    return frozenset(found)


@lru_cache(maxsize=65536)
def numbers(text: str) -> frozenset[str]:
    """Numbers written with digits, digit grouping removed (15.000 = 15,000 = 15 000 → "n:15000")."""
    return frozenset("n:" + _GROUP.sub("", m.group(0)).replace(",", ".") for m in _NUMBER.finditer(text))


def expansion(text: str) -> list[str]:
    """Every language's name of the places in `text`, to widen a lexical query across scripts."""
    found = places(text)
    if not found:
        return []
    gazetteer, _ = _gazetteer()
    return [" ".join(key) for key, ids in gazetteer.items() if ids & found and len(" ".join(key)) >= 4]
