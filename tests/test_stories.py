"""One story once: copies told by their text, stories across languages by their article vectors, and the
answer naming the other reports of a story instead of quoting them as independent sources."""

from __future__ import annotations

from typing import Any

import numpy as np

from retrieval.answer.extractive import one_story
from retrieval.corpus.stories import Copies, resemblance, sketch, stories
from retrieval.models import Chunk, Hit

TEXT = ("the harbour of varna reopened on tuesday after a storm closed it for three days the port authority said "
        "seventeen cargo ships had waited at anchor outside the breakwater while the winds reached 110 km h "
        "the first ship to enter was the grain carrier dobrudzha which docked at the western terminal at noon "
        "dock workers said the storm had torn two cranes from their rails and flooded the customs office "
        "the city council will meet on friday to count the damage and ask the government for help "
        "fishermen in the old port said they had not seen waves this high since the winter of 2012")


def test_the_same_text_resembles_itself_wholly_and_an_edited_copy_nearly() -> None:
    edited = TEXT.replace("seventeen", "17")
    assert resemblance(sketch(TEXT), sketch(TEXT)) == 1.0
    assert 0.8 <= resemblance(sketch(TEXT), sketch(edited)) < 1.0
    assert resemblance(sketch(TEXT), sketch("a new road bridge over the danube opened to traffic on monday")) == 0.0


def test_a_copy_names_the_kept_article_it_copies_and_a_new_text_none() -> None:
    copies = Copies({"a.txt": sketch(TEXT)})
    assert copies.original("b.txt", sketch(TEXT.replace("seventeen", "17"))) == "a.txt"
    assert copies.original("a.txt", sketch(TEXT)) is None  # an article is no copy of itself
    assert copies.original("c.txt", sketch("an entirely different report about a bridge and its opening day")) is None


def _neighbourhood() -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Four Vietnamese and one Bulgarian article on one subject; the Bulgarian one a little nearer to vi-0."""
    rng = np.random.default_rng(7)
    subject = rng.normal(size=64)
    vectors = {f"vi-{i}": subject + 0.45 * rng.normal(size=64) for i in range(4)}
    vectors["bg-0"] = vectors["vi-0"] + 0.35 * rng.normal(size=64)
    unit = {k: v / np.linalg.norm(v) for k, v in vectors.items()}
    return unit, {k: k[:2] for k in unit}


def test_the_article_standing_out_from_its_neighbourhood_in_another_language_shares_its_story() -> None:
    vectors, languages = _neighbourhood()
    grouped = stories(vectors, languages)
    assert grouped["bg-0"] == grouped["vi-0"]
    assert len(set(grouped.values())) == 4  # the other Vietnamese articles keep stories of their own


def test_articles_in_one_language_are_never_grouped_by_their_vectors() -> None:
    vectors, _ = _neighbourhood()
    assert len(set(stories(vectors, dict.fromkeys(vectors, "vi")).values())) == len(vectors)


def _hit(article: str, quote: str, score: float) -> Hit:
    chunk = Chunk(id=f"{article}#0", article_id=article, position=0, start=0, end=len(quote), text=quote,
                  sentences=[], title=f"Title of {article}", language=article[:2], source=article,
                  outlet=f"Outlet {article}", url=f"https://example.org/{article}")
    return Hit(chunk=chunk, quote=quote, start=0, end=len(quote), score=score)


def test_an_answer_quotes_one_report_of_a_story_and_names_the_others() -> None:
    articles: dict[str, dict[str, Any]] = {"vi-0": {"story": "bg-0"}, "bg-0": {"story": "bg-0", "language": "bg"},
                                           "vi-1": {"story": "vi-1"}}
    kept, reports = one_story([_hit("vi-0", "Putin và Kim gặp nhau", 3.0), _hit("bg-0", "Путин и Ким", 2.5),
                               _hit("vi-1", "Shoigu", 2.0), _hit("vi-0", "ở Bắc Kinh", 1.0)], articles)
    assert [h.chunk.article_id for h in kept] == ["vi-0", "vi-1", "vi-0"]
    assert [[r.outlet for r in named] for named in reports] == [["Outlet bg-0"], [], []]
    assert reports[0][0].url == "https://example.org/bg-0" and reports[0][0].language == "bg"


VI_MEETING, BG_MEETING = "000_297e5e17ff67e22b.txt", "002_80e1ee0b42e500dd.txt"


def test_the_seed_meeting_reported_in_vietnamese_and_bulgarian_is_one_story(engine: Any) -> None:
    stories_of = {row["id"]: row["story"] for row in engine.sources()}
    assert stories_of[VI_MEETING] == stories_of[BG_MEETING]
    assert len(set(stories_of.values())) == len(stories_of) - 1  # the other meetings are stories of their own


def test_an_answer_names_the_other_report_of_its_story_instead_of_quoting_it(engine: Any) -> None:
    answer = engine.ask("Where did Putin and Kim meet after the military parade in Beijing?")
    quoted = [c.source for c in answer.citations]
    assert not {VI_MEETING, BG_MEETING} <= set(quoted)
    named = [report.source for c in answer.citations for report in c.also]
    assert ({VI_MEETING, BG_MEETING} - set(quoted)) <= set(named)
