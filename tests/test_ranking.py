"""The window ranker: features of a window, the shipped learned weights, non-overlapping picks."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from retrieval.answer.ranking import FEATURES, WEIGHTS_FILE, QuestionView, Ranker, Window, features, pick
from retrieval.models import Chunk, Sentence

SHIPPED = Path(__file__).resolve().parent.parent / "retrieval" / "answer" / WEIGHTS_FILE


def _chunk(*sentences: str) -> Chunk:
    text = " ".join(sentences)
    spans, offset = [], 0
    for sentence in sentences:
        spans.append(Sentence(start=offset, end=offset + len(sentence), text=sentence, offset=offset))
        offset += len(sentence) + 1
    return Chunk(id="c", article_id="a", position=0, start=0, end=len(text), text=text, sentences=spans,
                 title="t", language="vi", source="a.txt")


def _row(question: str, chunk: Chunk, first: int, last: int) -> dict[str, float]:
    windows, rows = features(QuestionView.of(question), [chunk], [[0.0] * len(chunk.sentences)], [0.0], [0.0])
    return dict(zip(FEATURES, rows[windows.index(Window(0, first, last))]))


def test_shipped_weights_name_every_feature_and_say_how_they_were_learned() -> None:
    data = json.loads(SHIPPED.read_text("utf-8"))
    assert data["features"] == FEATURES and len(data["weights"]) == len(FEATURES)
    assert "XQuAD" in data["trained_on"] and data["cross_validated"] and data["date"]
    assert np.allclose(Ranker.load().weights, data["weights"])


def test_a_date_written_in_another_script_is_evidence_for_a_when_question() -> None:
    chunk = _chunk("Ông Shoigu đến Bình Nhưỡng ngày 27/7.", "Ông gặp lãnh đạo Triều Tiên.")
    dated = _row("Когда Шойгу был в Пхеньяне?", chunk, 0, 0)
    undated = _row("Когда Шойгу был в Пхеньяне?", chunk, 1, 1)
    assert dated["type_when"] == 1.0 and undated["type_when"] == 0.0
    assert dated["same_place"] == 1.0 and dated["same_name"] == 1.0


def test_the_date_a_question_names_is_matched_across_formats() -> None:
    chunk = _chunk("Ngày 13/9, hai nhà lãnh đạo hội đàm.", "Họ trao đổi quà tặng.")
    row = _row("What happened on 13 September?", chunk, 0, 0)
    assert row["same_date"] == 1.0 and row["same_month"] == 1.0
    assert row["type_when"] == 0.0  # the question asks no date


def test_window_length_is_a_feature() -> None:
    chunk = _chunk("Một.", "Hai.", "Ba.")
    assert _row("x?", chunk, 0, 2)["three_sentences"] == 1.0 and _row("x?", chunk, 0, 1)["two_sentences"] == 1.0


def test_picked_windows_do_not_overlap_and_come_best_first() -> None:
    windows = [Window(0, 0, 0), Window(0, 0, 1), Window(0, 1, 1), Window(1, 0, 0), Window(0, 2, 2)]
    scores = np.array([0.9, 1.0, 0.8, 0.5, 0.7])
    assert pick(windows, scores, 3) == [1, 4, 3]
