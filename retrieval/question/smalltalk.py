"""Greetings, thanks, goodbyes, chit-chat and a reader's verdict on an answer ("that's wrong", "helpful!") in
English, Vietnamese, Bulgarian and Russian, recognised before any search and each answered with its own
short reply, never with a quote.

A message is small talk only when all of it is made of such phrases (and emoji or punctuation):
"Hello, when did Shoigu visit Pyongyang?" keeps a question after the greeting and is searched.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from retrieval.models import SmalltalkKind as Kind
from retrieval.text import strip_marks

# The replies, in English; front ends translate them (the Telegram message catalogue). Placeholders:
# {articles} number of indexed articles, {languages} their languages, {example} an example question.
GREETING_REPLY = (
    "Hello! I answer questions about {articles} news articles ({languages}) with quotes from them. "
    "Ask me something, for example: {example}"
)
THANKS_REPLY = "You're welcome! Ask me anything else about the {articles} news articles I know ({languages})."
FAREWELL_REPLY = "Goodbye! Come back with a question about the news any time."
ACK_REPLY = "Ask me a question about the {articles} news articles I know ({languages}), for example: {example}"
CHITCHAT_REPLY = (
    "I'm newsqa, a bot that answers questions about {articles} news articles ({languages}), quoting them. "
    "Try: {example}"
)
HELP_REPLY = (
    "Ask a question in English, Vietnamese, Bulgarian or Russian about the {articles} news articles I know "
    "({languages}); I answer with numbered quotes from them, or say when they don't cover it. "
    "For example: {example}"
)
PRAISE_REPLY = "Glad it helped! Ask me anything else about the {articles} news articles I know ({languages})."
COMPLAINT_REPLY = (
    "Sorry about that. Check the numbered quotes to see what the articles say, or ask again in other words, "
    "naming the person, place or date you mean."
)
REPLIES: dict[Kind, str] = {
    "greeting": GREETING_REPLY,
    "thanks": THANKS_REPLY,
    "farewell": FAREWELL_REPLY,
    "ack": ACK_REPLY,
    "chitchat": CHITCHAT_REPLY,
    "help": HELP_REPLY,
    "praise": PRAISE_REPLY,
    "complaint": COMPLAINT_REPLY,
}

# Phrases by kind and language. Matching ignores case, diacritics and punctuation, so "xin chao",
# "Xin chào!" and "XIN CHÀO" are one phrase.
_PHRASES: dict[Kind, dict[str, tuple[str, ...]]] = {
    "greeting": {
        "en": ("hello", "hi", "hey", "hiya", "howdy", "greetings", "good morning", "good afternoon", "good evening",
               "good day", "yo", "hallo"),
        "vi": ("xin chào", "chào", "chào bạn", "chào buổi sáng", "chào buổi tối", "alo", "chào em", "chào anh",
               "chào chị"),
        "ru": ("привет", "здравствуйте", "здравствуй", "добрый день", "доброе утро", "добрый вечер", "приветствую",
               "здорово", "хай", "салют"),
        "bg": ("здравей", "здравейте", "здрасти", "добро утро", "добър ден", "добър вечер", "здрасте"),
    },
    "thanks": {
        "en": ("thanks", "thank you", "thank u", "thx", "ty", "cheers", "many thanks", "thanks a lot",
               "thank you very much", "thanks so much", "much appreciated"),
        "vi": ("cảm ơn", "cám ơn", "cảm ơn nhiều", "cảm ơn bạn", "cám ơn bạn", "cảm ơn bạn nhiều", "tks"),
        "ru": ("спасибо", "спасибо большое", "большое спасибо", "благодарю", "спс", "пасиб"),
        "bg": ("благодаря", "мерси", "благодаря ти", "благодаря много", "много благодаря", "благодаря ви"),
    },
    "farewell": {
        "en": ("bye", "goodbye", "good bye", "see you", "see you later", "good night", "bye bye"),
        "vi": ("tạm biệt", "hẹn gặp lại", "chúc ngủ ngon", "bai"),
        "ru": ("пока", "до свидания", "спокойной ночи", "до встречи"),
        "bg": ("довиждане", "чао", "лека нощ", "до скоро"),
    },
    "ack": {
        "en": ("ok", "okay", "k", "cool", "great", "nice", "got it", "sure", "yes", "no", "lol", "good", "fine",
               "alright", "wow", "awesome", "perfect", "i see", "hmm", "ok then"),
        "vi": ("được", "vâng", "ừ", "tốt", "hay quá", "tuyệt", "tuyệt vời", "hiểu rồi", "dạ", "ok bạn"),
        "ru": ("ок", "окей", "хорошо", "ладно", "понятно", "ясно", "да", "нет", "отлично", "класс", "круто", "супер"),
        "bg": ("добре", "ок", "супер", "ясно", "да", "не", "чудесно", "разбрах", "страхотно"),
    },
    "chitchat": {
        "en": ("how are you", "how are you doing", "how is it going", "how's it going", "what's up", "whats up",
               "sup", "who are you", "are you a bot", "what is your name", "what's your name", "nice to meet you"),
        "vi": ("bạn khỏe không", "bạn có khỏe không", "khỏe không", "bạn là ai", "bạn tên là gì", "bạn tên gì",
               "rất vui được gặp bạn"),
        "ru": ("как дела", "как ты", "как поживаешь", "кто ты", "ты кто", "что нового", "как тебя зовут",
               "ты бот"),
        "bg": ("как си", "как сте", "какво правиш", "кой си ти", "кой си", "как се казваш", "какво ново"),
    },
    "praise": {
        "en": ("that's helpful", "that is helpful", "helpful", "very helpful", "that helps", "that helped",
               "great answer", "good answer", "nice answer", "that's right", "that's correct", "correct",
               "exactly", "that's great", "well done", "good job", "good bot", "that's useful", "useful"),
        "vi": ("hữu ích", "rất hữu ích", "đúng rồi", "chính xác", "chuẩn", "hay lắm", "tốt lắm", "giỏi lắm"),
        "ru": ("полезно", "очень полезно", "верно", "правильно", "точно", "именно", "то что нужно", "молодец"),
        "bg": ("полезно", "много полезно", "вярно", "правилно", "точно така", "браво", "точно"),
    },
    "complaint": {
        "en": ("that's wrong", "that is wrong", "wrong", "wrong answer", "that's not right", "not right",
               "incorrect", "that's incorrect", "that's not true", "not true", "bad answer", "not helpful",
               "useless", "that's not what i asked", "no that's wrong", "nope"),
        "vi": ("không đúng", "sai", "sai rồi", "trả lời sai", "không chính xác", "không phải", "không phải vậy",
               "vô ích", "sai bét"),
        "ru": ("неправильно", "неверно", "не так", "ошибка", "это неправда", "неправда", "неправильный ответ",
               "бесполезно", "не то"),
        "bg": ("грешно", "грешка", "не е вярно", "невярно", "грешен отговор", "не е така", "не е правилно",
               "безполезно"),
    },
    "help": {
        "en": ("help", "what can you do", "what do you know", "how does this work", "start"),
        "vi": ("giúp", "giúp tôi", "trợ giúp", "bạn làm được gì", "bạn biết gì"),
        "ru": ("помощь", "помоги", "что ты умеешь", "что ты знаешь"),
        "bg": ("помощ", "какво можеш", "какво знаеш"),
    },
}

# Words that may surround small talk without making it a question ("hi bot", "thanks, newsqa").
_ADDRESS = frozenset(
    strip_marks(w)
    for w in ("bot", "newsqa", "there", "all", "everyone", "guys", "friend", "again", "so", "very", "much", "nhé",
              "nha", "ạ", "bạn", "ơi", "mọi", "người", "бот", "всем", "всички", "ти", "вам", "много", "really",
              "quite", "rất", "this", "answer", "this answer", "ответ", "отговор", "câu", "trả", "lời", "là",
              "е", "это", "really", "just", "oh", "ah", "ồ", "à")
)
# Which kind a message of several phrases is, most telling first.
_WEIGHT: tuple[Kind, ...] = ("complaint", "thanks", "farewell", "praise", "greeting", "help", "chitchat", "ack")
_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)?", re.UNICODE)
_LONGEST = 4  # words in the longest phrase


@dataclass(frozen=True)
class Smalltalk:
    """A message recognised as small talk: what kind (its first phrase) and which language."""

    kind: Kind
    language: str


def _key(text: str) -> tuple[str, ...]:
    """The message as lower-case words without diacritics or punctuation."""
    folded = strip_marks(unicodedata.normalize("NFC", text)).casefold().replace("’", "'")
    return tuple(_WORD.findall(folded))


_INDEX: dict[tuple[str, ...], list[tuple[Kind, str]]] = {}
for _kind, _by_language in _PHRASES.items():
    for _language, _phrases in _by_language.items():
        for _phrase in _phrases:
            _INDEX.setdefault(_key(_phrase), []).append((_kind, _language))


def detect(message: str) -> Smalltalk | None:
    """The small talk a message is, or None when any of it is something else (a question, a name)."""
    tokens = _key(message)
    if not tokens:
        # Only emoji or punctuation ("👍", "?!"): nothing to search for.
        return Smalltalk("ack", "und") if message.strip() else None
    found: list[tuple[Kind, str]] = []
    languages: dict[str, int] = {}
    i = 0
    while i < len(tokens):
        for length in range(min(_LONGEST, len(tokens) - i), 0, -1):
            matches = _INDEX.get(tokens[i : i + length])
            if matches:
                found.append(matches[0])
                for _, language in matches:
                    languages[language] = languages.get(language, 0) + 1
                i += length
                break
        else:
            if tokens[i] not in _ADDRESS:
                return None
            i += 1
    if not found:
        return None
    # "ok thanks, bye" thanks: the phrase that says most decides, not the first one.
    kind = min((k for k, _ in found), key=_WEIGHT.index)
    # "ok cảm ơn nhé": "ok" is everyone's; a tie between languages is no language (the text decides).
    best = max(languages.values())
    winners = [lang for lang, count in languages.items() if count == best]
    return Smalltalk(kind, winners[0] if len(winners) == 1 else "und")


def reply(kind: Kind, articles: int, languages: list[str], example: str) -> str:
    """The English reply to small talk of that kind, naming what the index holds."""
    return REPLIES[kind].format(articles=articles, languages=", ".join(languages) or "no language yet", example=example)
