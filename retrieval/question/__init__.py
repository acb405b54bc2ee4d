"""The question: takes the text a reader wrote (and the thread it belongs to); gives its language, the kind
of answer it asks for, its names, dates and places bridged across scripts, and whether it is small talk."""

from retrieval.rooms import exports

_NAMES = {
    "detect_language": "language",
    "guess_question_language": "language",
    "short_text_language": "language",
    "QuestionType": "qtypes",
    "answer_span": "qtypes",
    "bridges": "bridges",
    "expansion": "bridges",
    "smalltalk": "smalltalk",
    "analyse": "analysis",
    "History": "history",
    "content": "terms",
    "folded": "terms",
    "key_terms": "terms",
    "same_name": "terms",
    "found_in": "terms",
}
__all__ = sorted(_NAMES)
__getattr__ = exports(__name__, _NAMES)
