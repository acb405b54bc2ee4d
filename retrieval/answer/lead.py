"""The lead: the span of a quote that answers the question (a date, a number, a name, a place), shown in
bold before the quote, and its gloss in the reader's language when the quote is in another one.

A wrong lead is worse than none: a reader on a phone reads the bold word and stops. So a span leads only
when it is of the asked kind, is not itself one of the question's terms, and stands in the sentence that
carries the question's other terms, nearest to them; otherwise there is no lead.
"""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass
from difflib import SequenceMatcher
from functools import lru_cache

from retrieval.models import Hit, Question
from retrieval.question import bridges, content, folded, found_in, same_name
from retrieval.text import fold_word

_WORD = re.compile(r"[^\W_]+(?:[-'’][^\W_]+)*", re.UNICODE)
_SENTENCE = re.compile(r"(?<=[.!?…])[\"”»']?\s+(?=[\"“«']?[^\W\d_])")
# Words that head a title or an institution, not a person: "Bộ Quốc phòng", "Điện Kremlin", "President Putin".
_NOT_A_PERSON = frozenset(
    fold_word(w)
    for w in """Bộ Điện Đảng Tổng Chủ Thủ Ủy Hãng Quân Nhà Ngoại Phó Đại Viện Sở Hội Ban Cục Tòa Quốc Chính Tập
    Liên Hiệp Thông Tin Ảnh Theo Khi Sau Trước Trong Tại Ông Bà Anh Chị Cô
    President Minister Ministry Party Agency Kremlin Government Council Committee Army General Leader Chairman
    Secretary State Mr Mrs Ms Dr News Photo
    Президент Министър Министерство Партия Агенция Кремъл Правителство Генерал Председател Лидер Господин
    Президента Министр Министерство Партии Агентство Кремль Правительство Генерал Председатель Лидер Господин
    """.split()  # noqa: SIM905 - a word list reads better as text
)
_ORDINAL_AFTER = re.compile(r"^(?:-?(?:та|ата|ия|ият|ото|ти|ри|ви|ми|st|nd|rd|th|й|я|е|го|ой|ый|ий))\b", re.I)
_ORDINAL_BEFORE = re.compile(r"(?:thứ|lần thứ|№|no\.)\s*$", re.I)
_DIGITS = re.compile(r"(?<![\w.,])\d+(?:[.,\u00a0\u202f ]\d{3})*(?:[.,]\d+)?(?:\s?%)?")
_NUMBER_WORDS = (
    r"một|hai|ba|bốn|năm|sáu|bảy|tám|chín|mười|mươi|trăm|nghìn|ngàn|triệu|tỷ|rưỡi|"
    r"един|една|едно|два|две|три|четири|пет|шест|седем|осем|девет|десет|половина|"
    r"один|одна|одно|два|две|три|четыре|пять|шесть|семь|восемь|девять|десять|полтора|полторы|"
    r"one|two|three|four|five|six|seven|eight|nine|ten|twelve|hundred|thousand|million|billion|half"
)
_AMOUNT = rf"(?:\d+(?:[.,]\d+)?|(?:{_NUMBER_WORDS}))(?:\s+(?:и|và|and|a)?\s*(?:\d+|{_NUMBER_WORDS}))*"
_TIME_UNIT = (
    r"giờ|tiếng|phút|ngày|tuần|tháng|năm|hours?|minutes?|days?|weeks?|months?|years?|"
    r"час(?:а|ов)?|минут(?:и|а|ы)?|ден|дни|дня|дней|седмиц[аи]|месец[аи]?|месяц(?:а|ев)?|годин[аи]|года?|лет"
)
_DURATION = re.compile(
    rf"(?<!\w)(?:{_AMOUNT})\s+(?:{_TIME_UNIT})(?:\s+(?:и|và|and)\s+(?:a\s+)?(?:половина|rưỡi|half))?(?!\w)", re.I
)
_DATE = re.compile(
    r"(?<![\w/])(?:(?:ngày|hôm)\s+)?\d{1,2}[/-]\d{1,2}(?:[/-]\d{2,4})?(?![\w/])"
    r"|\b\d{4}-\d{2}-\d{2}\b"
    r"|(?:ngày\s+\d{1,2}\s+)?tháng\s+\d{1,2}(?:\s+năm\s+(?:\d{4}|ngoái|nay|trước))?"
    r"|\bthứ\s+(?:Hai|Ba|Tư|Năm|Sáu|Bảy)\b|\bChủ nhật\b"
    r"|(?<![\w.,])(?:1[89]|20)\d{2}(?![\w.,]\d)",
    re.I,
)
_LOCATIVE = re.compile(r"^(?:ở|tại|in|at|inside|в|във|на|до)$", re.I)
# Words after which a name is where someone went, not who: "đến Bắc Kinh", "to Beijing", "в Пекин".
_DIRECTION = re.compile(r"^(?:ở|tại|đến|tới|sang|từ|về|in|at|to|from|into|for|в|във|на|до|от|из|к|през)$", re.I)
_QUOTED = re.compile(r"[\"“«„]([^\"”»“]{2,40})[\"”»“]")


@dataclass(frozen=True)
class Span:
    """A candidate answer inside one sentence: where it stands and what it says."""

    start: int
    end: int
    text: str


def sentences_of(hit: Hit) -> list[tuple[int, int]]:
    """(start, end) in the quote of each of its sentences, as the chunker cut them."""
    inside = [s for s in hit.chunk.sentences if s.start >= hit.start and s.end <= hit.end]
    if not inside:
        return sentences(hit.quote)
    base = inside[0].offset
    return [(s.offset - base, s.offset - base + len(s.text)) for s in inside]


def sentences(text: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence of a text, split on sentence-ending punctuation."""
    bounds, start = [], 0
    for match in _SENTENCE.finditer(text):
        bounds.append((start, match.start()))
        start = match.end()
    bounds.append((start, len(text)))
    return [(s, e) for s, e in bounds if text[s:e].strip()]


def _tokens(text: str) -> list[tuple[str, int, int]]:
    return [(m.group(), m.start(), m.end()) for m in _WORD.finditer(text)]


def _akin(word: str, words: set[str]) -> bool:
    """The word or an inflection of it is among the words: a shared start of five letters or more
    ("срещнаха" ~ "срещата" ~ "срещна")."""
    if found_in(word, words):
        return True
    stem = word[:5]
    return len(word) >= 6 and not word.isdigit() and any(len(w) >= 5 and w.startswith(stem) for w in words)


def _asked_words(question: Question) -> list[str]:
    """What the question names besides its cue words: its terms first, then its other content words."""
    return list(dict.fromkeys([*question.terms, *question.words]))


def support(question: Question, sentence: str) -> float:
    """How much of the question a sentence carries: its names (bridged across scripts) count double."""
    words = set(content(sentence))
    places = bridges.places(sentence)
    terms = [t for t in question.terms if not t.isdigit()]
    named = sum(found_in(t, words) for t in terms) + len(set(question.places) & places)
    others = [w for w in question.words if w not in question.terms]
    said = sum(found_in(w, words) for w in others)
    return (2 * named + said) / max(2 * (len(terms) + len(question.places)) + len(others), 1)


def _carries_names(
    question: Question, sentence: str, every: bool = False, loose: bool = False, own: bool = False
) -> bool:
    """The sentence names at least half of what the question names, a follow-up's topic included
    (`every`: all of it; `loose`: all but one of two; `own`: only the names the question itself gives),
    in any script: a person by any word of their name (Ким ~ Kim Jong-un), a place by the gazetteer
    (Пхенян ~ Bình Nhưỡng)."""
    wanted = list(dict.fromkeys([*question.names, *([] if own else question.topic)]))
    if not wanted:
        return True
    words, places = set(content(sentence)), bridges.places(sentence)
    found = sum(_named(name, words, places) for name in wanted)
    if every:
        return found >= len(wanted)
    return 2 * found >= len(wanted) - (1 if loose else 0)


def names_all(question: Question, text: str, own: bool = False) -> bool:
    """The text names everything the question names (`own`: leaving a follow-up's topic aside)."""
    return _carries_names(question, text, every=True, own=own)


def _named(name: str, words: set[str], places: frozenset[str]) -> bool:
    if bridges.places(name) & places:
        return True
    return any(found_in(part, words) for part in content(name) if not part.isdigit())


def _in_question(question: Question, span: str) -> bool:
    """The span repeats what the question says: a name it asks about (Sergei Shoigu for "whom did Shoigu
    meet?"), or only its words, dates or numbers."""
    span_words = content(span)
    if not span_words:
        return True
    if question.asks in ("who", "where") and any(same_name(span, name) for name in [*question.names,
                                                                                  *question.topic]):
        return True
    asked = set(_asked_words(question))
    if all(found_in(w, asked) for w in span_words):
        return True
    if bridges.dates(span) and bridges.dates(span) <= set(question.dates):
        return True
    places = bridges.places(span)
    return bool(places) and places <= set(question.places)


def _dates(sentence: str) -> list[Span]:
    return [Span(m.start(), m.end(), m.group()) for m in _DATE.finditer(sentence) if bridges.dates(m.group())]


def _counts(sentence: str, question: Question) -> list[Span]:
    if question.duration:
        return [Span(m.start(), m.end(), m.group()) for m in _DURATION.finditer(sentence)]
    found = []
    for m in _DIGITS.finditer(sentence):
        if _ORDINAL_AFTER.match(sentence[m.end() :]) or _ORDINAL_BEFORE.search(sentence[: m.start()]):
            continue  # "80-ата годишнина", "lần thứ 2": an ordinal counts nothing
        if bridges.dates(m.group()) and "/" in m.group():
            continue
        found.append(Span(m.start(), m.end(), m.group()))
    return found


def _people(sentence: str, question: Question) -> list[Span]:
    """Runs of capitalised words that name a person: not a place, not a title or an institution, not
    where someone went ("đến Bắc Kinh")."""
    tokens = _tokens(sentence)
    found, run = [], []

    def place(words: list[tuple[str, int, int]]) -> bool:
        return bool(words) and bool(bridges.places(sentence[words[0][1] : words[-1][2]]))

    def close(before: str) -> None:
        while run and (fold_word(run[0][0]) in _NOT_A_PERSON or place(run[:1]) or place(run[:2])):
            # "Nga Sergei Shoigu" → "Sergei Shoigu"; "Điện Kremlin Dmitry Peskov" → "Dmitry Peskov"
            del run[: 2 if place(run[:2]) and not place(run[:1]) else 1]
        while run and (place(run[-1:]) or place(run[-2:])):
            del run[-(2 if place(run[-2:]) and not place(run[-1:]) else 1) :]
        if 2 <= len(run) <= 4 and not any(fold_word(w) in _NOT_A_PERSON for w, _, _ in run) and not (
            _DIRECTION.match(before)
        ):
            found.append(Span(run[0][1], run[-1][2], sentence[run[0][1] : run[-1][2]]))
        run.clear()

    before = ""
    for i, (word, start, end) in enumerate(tokens):
        capital = word[:1].isupper() and not word.isupper()
        if capital and (i > 0 or len(tokens) > 1):
            if not run:
                before = tokens[i - 1][0] if i else ""
            run.append((word, start, end))
        else:
            close(before)
    close(before)
    return found


def _places(sentence: str, question: Question) -> list[Span]:
    """Names that follow a locative word closely ("tại nhà khách Diaoyutai", "в Бình Nhưỡng"), and quoted
    names ("резиденция "Дяоюйтай"")."""
    found = []
    tokens = _tokens(sentence)
    for i, (word, _, _) in enumerate(tokens):
        if not _LOCATIVE.match(word):
            continue
        for later, (other, o_start, o_end) in enumerate(tokens[i + 1 : i + 7]):
            if other[:1].isupper() and not other.isupper():
                j, stop = i + 1 + later, o_end
                while j + 1 < len(tokens) and tokens[j + 1][0][:1].isupper() and tokens[j + 1][1] - stop <= 1:
                    j, stop = j + 1, tokens[j + 1][2]
                found.append(Span(o_start, stop, sentence[o_start:stop]))
    for m in _QUOTED.finditer(sentence):
        if m.group(1)[:1].isupper() and len(m.group(1).split()) <= 3:
            found.append(Span(m.start(1), m.end(1), m.group(1)))
    return found


def _candidates(question: Question, sentence: str) -> list[Span]:
    if question.asks == "when":
        return _dates(sentence)
    if question.asks == "how_many":
        return _counts(sentence, question)
    if question.asks == "who":
        return _people(sentence, question)
    if question.asks == "where":
        return _places(sentence, question)
    return []


def _beside(sentence: str, span: Span, question: Question, reach: int = 5) -> int:
    """How many of the question's words stand within `reach` words of the span (the span's own words not
    counted): "gặp gỡ Tổng thống Putin vào ngày 15-9" puts the asked date beside the question's words."""
    asked = set(_asked_words(question))
    tokens = _tokens(sentence)
    inside = [i for i, (_, start, end) in enumerate(tokens) if start < span.end and end > span.start]
    if not inside:
        return 0
    near = tokens[max(inside[0] - reach, 0) : inside[0]] + tokens[inside[-1] + 1 : inside[-1] + 1 + reach]
    return len({folded(word) for word, _, _ in near if found_in(folded(word), asked)})


def _asks_what_someone_is(question: Question) -> bool:
    """"Who is Peskov?": the answer is a description, not a name to put in bold."""
    return question.asks == "who" and not [w for w in question.words if w not in question.terms]


def find(
    question: Question, hit: Hit, every_name: bool = False, own: bool = False
) -> tuple[Span, tuple[int, int]] | None:
    """The span of the hit's quote that answers, with the sentence it stands in (offsets in the quote), or
    None; `every_name`: only in a sentence naming all the question names (`own`: those it gives itself)."""
    if question.asks is None or _asks_what_someone_is(question):
        return None
    quote = hit.quote
    bounds = sentences_of(hit)
    scores = hit.sentence_scores if len(hit.sentence_scores) == len(bounds) else [0.0] * len(bounds)
    # Across languages Beijing is no gazetteer city, and "the meeting lasted two hours" says whose meeting
    # only around it (as does any answer to a follow-up that names no one itself, "how long did their
    # meeting last?"): in a passage naming what the question names, any sentence may hold the span.
    named_around = (
        not every_name
        and (hit.chunk.language != question.language or not question.names)
        and _carries_names(question, f"{hit.chunk.title} {hit.chunk.text}", loose=True)
    )
    # In the reader's language the sentence must also say what the question asks about besides its names
    # ("which foreign minister…" is not answered by a sentence naming only Kim and Beijing).
    others = [w for w in question.words if w not in question.terms] if hit.chunk.language == question.language else []
    best: tuple[tuple[float, ...], Span, tuple[int, int]] | None = None
    for i, (s, e) in enumerate(bounds):
        sentence = quote[s:e]
        named = _carries_names(question, sentence, every_name, own=own)
        if not (named or named_around):
            continue
        if others and not any(_akin(w, set(content(sentence))) for w in others):
            continue
        weight = support(question, sentence)
        for span in _candidates(question, sentence):
            if _in_question(question, span.text):
                continue
            key = (float(named), _beside(sentence, span, question), scores[i], weight, -span.start)
            if best is None or key > best[0]:
                best = (key, Span(s + span.start, s + span.end, span.text), (s, e))
    return (best[1], best[2]) if best else None


def grounds(question: Question, hit: Hit, own: bool = False) -> bool:
    """The quote has a sentence naming all the question names together with a span of the asked kind (for
    "who is Peskov?", naming him): the articles do speak to the question. `own`: the names the question
    gives itself; one that names nothing is grounded only through a follow-up's topic, as a lead is found,
    and a question naming nothing at all never is."""
    if question.asks is None:
        return False
    if _asks_what_someone_is(question):
        return any(_carries_names(question, hit.quote[s:e], every=True) for s, e in sentences_of(hit))
    if own and not question.names:
        return bool(question.topic) and find(question, hit) is not None
    return find(question, hit, every_name=True, own=own) is not None


def lead(question: Question, hit: Hit) -> str | None:
    """The answering span of a quote in the reader's own language, or None when no span clearly answers.

    Across languages no span leads: the question's words cannot be found beside it, and on XQuAD dev
    (English and Russian questions, Vietnamese quotes) such spans were right only 37–62 % of the time
    however they were filtered; in the reader's language they were right on every fixture question."""
    if hit.chunk.language != question.language:
        return None
    found = find(question, hit)
    return _clean(found[0].text) if found else None


def rendered(question: Question, hit: Hit) -> tuple[str, str] | None:
    """For a quote in another language: its one span of the asked kind beside all the question's names,
    and that span in the reader's language ("ngày 27/7", "27 юли"), or None. It renders what the quote
    says; it is not put forward as the answer."""
    if hit.chunk.language == question.language:
        return None
    found = find(question, hit, every_name=True)
    if found is None or len(_spans(question, hit)) != 1:
        return None
    span = _clean(found[0].text)
    text = gloss(question, span, hit.chunk.language)
    return (span, text) if text else None


def _spans(question: Question, hit: Hit) -> list[Span]:
    """Every span of the asked kind in the quote that is not the question's own."""
    return [
        span
        for s, e in sentences_of(hit)
        for span in _candidates(question, hit.quote[s:e])
        if not _in_question(question, span.text)
    ]


def _clean(span: str) -> str:
    return span.strip(" ,.;:")


def same_answer(question: Question, a: str, b: str) -> bool:
    """Two leads give one answer (the same date, number, place or name, in any script)."""
    if question.asks == "when":
        return bool(bridges.dates(a) & bridges.dates(b) - {t for t in bridges.dates(a) if t.startswith("w:")})
    if question.asks == "how_many":
        numbers_a, numbers_b = bridges.numbers(a), bridges.numbers(b)
        return bool(numbers_a & numbers_b) if numbers_a or numbers_b else _close(a, b)
    if same_name(a, b):
        return True
    return _close(a, b)


def _close(a: str, b: str) -> bool:
    fa, fb = " ".join(content(a)), " ".join(content(b))
    return bool(fa and fb) and SequenceMatcher(None, fa, fb).ratio() >= 0.75


# --- the gloss ---------------------------------------------------------------------------------------------


def gloss(question: Question, span: str, quote_language: str | None) -> str | None:
    """The lead in the reader's language when the quote is in another one ("27/7" → "27 July", "27 юли",
    "27 июля"), from CLDR data through Babel; None when there is nothing to render or no need."""
    reader = question.language
    if not span or not quote_language or quote_language == reader:
        return None
    if question.asks == "when":
        rendered = _date_gloss(span, reader)
    elif question.asks == "how_many":
        rendered = _number_gloss(span, reader)
    elif question.asks == "where":
        rendered = _place_gloss(span, reader)
    else:
        rendered = _name_gloss(span, reader)
    if rendered is None or rendered.casefold() == span.casefold():
        return None
    return rendered


def _date_gloss(span: str, reader: str) -> str | None:
    from babel.dates import format_date, format_skeleton

    tokens = bridges.dates(span)
    years = sorted(t[2:] for t in tokens if t.startswith("y:"))
    day = next((t[2:] for t in tokens if t.startswith("d:")), None)
    month = next((t[2:] for t in tokens if t.startswith("m:")), None)
    year = int(years[0]) if years else None
    if day:
        m, d = (int(x) for x in day.split("-"))
        when = datetime.date(year or 2000, m, d)
        return format_skeleton("yMMMMd" if year else "MMMMd", when, locale=reader)
    if month:
        when = datetime.date(year or 2000, int(month), 1)
        return format_skeleton("yMMMM", when, locale=reader) if year else format_date(when, "LLLL", locale=reader)
    return None


def _number_gloss(span: str, reader: str) -> str | None:
    from babel.numbers import format_decimal

    found = sorted(bridges.numbers(span))
    if len(found) != 1:
        return None
    value = float(found[0][2:])
    return format_decimal(int(value) if value.is_integer() else value, locale=reader)


def _place_gloss(span: str, reader: str) -> str | None:
    ids = bridges.places(span)
    if len(ids) != 1:
        return _name_gloss(span, reader)
    (place,) = ids
    return _place_names(reader).get(place)


@lru_cache(maxsize=8)
def _place_names(reader: str) -> dict[str, str]:
    from babel import Locale

    locale = Locale.parse(reader)
    found = {f"p:{code}": name for code, name in locale.territories.items() if len(code) == 2 and code.isalpha()}
    for zone, data in locale.time_zones.items():
        if "city" in data:
            found[f"p:{zone}"] = data["city"]
    return found


def _name_gloss(span: str, reader: str) -> str | None:
    """A name in Cyrillic written in Latin letters for a reader of a Latin-script language (Ким Чен-ун →
    Kim Chen-un); Latin names are not put into Cyrillic (no offline transliteration does it well)."""
    from anyascii import anyascii

    if reader in ("en", "vi") and any("\u0400" <= ch <= "\u04ff" for ch in span):
        return anyascii(span)
    return None
