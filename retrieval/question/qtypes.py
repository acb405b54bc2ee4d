"""What kind of answer a question wants (a date, a number, a name, a place) and where it stands in a text.

Question cues cover English, Vietnamese, Bulgarian and Russian. Patterns are deliberately
simple: they only mark a span to highlight and nudge sentence ranking, never decide alone.
"""

from __future__ import annotations

import re

from retrieval.models import QuestionType

# Upper-case letters of the Latin (with Vietnamese) and Cyrillic blocks: `re` has no \p{Lu},
# and a range such as À-Ỹ also holds lower-case letters.
_UPPER = "".join(
    ch for block in ((0x41, 0x250), (0x400, 0x530), (0x1E00, 0x1F00)) for ch in map(chr, range(*block)) if ch.isupper()
)
_CAP = f"[{_UPPER}]"

_CUES: list[tuple[QuestionType, re.Pattern[str]]] = [
    ("how_many", re.compile(r"\bhow (many|much|long)\b|bao nhiêu|bao lâu|\bкол(ко|ку)\b|\bсколько\b", re.I)),
    (
        "when",
        re.compile(
            r"\bwhen\b|\bwhat (date|day|year|month|time)\b|\bwhich (date|day|year|month)\b|khi nào|bao giờ|"
            r"lúc nào|ngày nào|năm nào|tháng nào|hôm nào|\bкога\b|\bкогда\b|в как(ой|ом) (день|году|месяце)|"
            r"какого числа|на коя дата|през коя година",
            re.I,
        ),
    ),
    ("where", re.compile(r"\bwhere\b|ở đâu|tại đâu|đâu\?|\bкъде\b|\bгде\b|\bкуда\b|\bнакъде\b", re.I)),
    (
        "who",
        re.compile(r"\bwho(m|se)?\b|\bai\b|\bкой\b|\bкоя\b|\bкои\b|\bкто\b|\bкого\b|\bкому\b|\bчей\b", re.I),
    ),
]

_MONTHS = (
    r"January|February|March|April|May|June|July|August|September|October|November|December|"
    r"януари|февруари|март|април|май|юни|юли|август|септември|октомври|ноември|декември|"
    r"января|февраля|марта|апреля|мая|июня|июля|августа|сентября|октября|ноября|декабря"
)
_NUMBER_WORDS = (
    r"một|hai|ba|bốn|năm|sáu|bảy|tám|chín|mười|mươi|trăm|nghìn|ngàn|triệu|tỷ|"
    r"един|една|два|две|три|четири|пет|шест|седем|осем|девет|десет|"
    r"один|одна|два|две|три|четыре|пять|шесть|семь|восемь|девять|десять|"
    r"one|two|three|four|five|six|seven|eight|nine|ten|hundred|thousand|million|billion"
)
_SPANS: dict[QuestionType, re.Pattern[str]] = {
    "when": re.compile(
        r"\b\d{4}-\d{2}-\d{2}\b"
        r"|(?:(?:ngày|hôm)\s+)?\d{1,2}[/-]\d{1,2}(?:[/-]\d{2,4})?"
        r"|\b(?:ngày|tháng|năm)\s+\d{1,4}(?:\s+năm\s+\d{4})?"
        r"|\bthứ\s+(?:Hai|Ba|Tư|Năm|Sáu|Bảy)|\bChủ nhật"
        r"|\b\d{1,2}\s+(?:" + _MONTHS + r")(?:\s+\d{4})?"
        r"|\b(?:" + _MONTHS + r")(?:\s+\d{1,2})?(?:,?\s+\d{4})?"
        r"|\b(?:in|năm|през|в)\s+\d{4}\b|\b(?:1[89]|20)\d{2}\b",
        re.I,
    ),
    "how_many": re.compile(
        r"\d[\d.,\u00a0]*\d?(?:\s?(?:%|triệu|nghìn|ngàn|tỷ|million|billion|thousand|хиляди|милиона|тысяч|миллион\w*))?"
        r"|\b(?:" + _NUMBER_WORDS + r")(?:\s+(?:" + _NUMBER_WORDS + r"|и|và|and|половина|rưỡi))*\b",
        re.I,
    ),
    "who": re.compile(rf"(?<![\w]){_CAP}[\w'’-]+(?:\s+{_CAP}[\w'’-]+){{1,3}}"),
    "where": re.compile(
        rf"(?:\b(?:ở|tại|in|at|в|във|на|до)\s+)((?:{_CAP}|[\"“])[\w\"”'’.-]*(?:\s+{_CAP}[\w'’.-]*){{0,3}})"
    ),
}


def question_type(question: str) -> QuestionType | None:
    """The answer type a question asks for, or None for open "what/why" questions."""
    for qtype, cue in _CUES:
        if cue.search(question):
            return qtype
    return None


def answer_span(qtype: QuestionType, text: str) -> tuple[int, int] | None:
    """The first span of `text` that looks like an answer of that type, as (start, end)."""
    match = _SPANS[qtype].search(text)
    if not match:
        return None
    if qtype == "where" and match.lastindex:
        return match.start(1), match.end(1)
    return match.start(), match.end()
