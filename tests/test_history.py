"""A conversation's history: bounded by turns and tokens, what a follow-up is read against, what a
model reads to rewrite one."""

from __future__ import annotations

from retrieval.models import Answer, Citation
from retrieval.question.history import History, turn_of


def turn(n: int, chars: int = 30) -> Answer:
    return Answer(question=f"question {n}", answer="x" * chars, abstained=False)


def test_history_keeps_only_the_newest_turns() -> None:
    history = History(max_turns=2)
    for n in range(5):
        history.add(turn(n))
    assert [q for q, _ in history.recent()] == ["question 3", "question 4"]


def test_history_drops_the_oldest_turns_beyond_the_token_budget() -> None:
    history = History(max_turns=10, max_tokens=100)
    for n in range(5):
        history.add(turn(n, chars=120))  # about 44 tokens a turn
    assert [q for q, _ in history.recent()] == ["question 3", "question 4"]


def test_history_shortens_long_answers() -> None:
    history = History(answer_chars=50)
    history.add(Answer(question="q", answer="word " * 100, abstained=False))
    _, kept = history.recent()[0]
    assert len(kept) <= 52 and kept.endswith("…")


def test_a_turn_keeps_what_the_next_question_needs() -> None:
    answer = Answer(question="When did Shoigu visit Pyongyang?", answer="“ngày 27/7 …” [1]", abstained=False,
                    asks="when", citations=[Citation(n=1, source="a.txt", title="t", quote="q", score=1.0,
                                                     start=10, end=20)])
    turn = turn_of(answer)
    assert turn.topic == ["Shoigu", "Pyongyang"] and turn.asks == "when"
    assert turn.shown == [("a.txt", 10, 20)] and not turn.abstained and not turn.smalltalk
    assert turn.answer == "“ngày 27/7 …”"  # the citation marker is not kept


def test_small_talk_is_a_turn_the_model_never_reads() -> None:
    history = History()
    history.add(Answer(question="Who met Kim?", answer="Putin [1].", abstained=False))
    history.add(Answer(question="thanks", answer="You're welcome!", abstained=False, kind="smalltalk"))
    assert history.thread()[-1].smalltalk
    assert [q for q, _ in history.recent()] == ["Who met Kim?"]


def test_a_follow_up_is_given_to_the_model_with_the_topic_it_took() -> None:
    history = History()
    history.add(Answer(question="and who did he meet there?", answer="Kim [1].", abstained=False,
                       topic=["Shoigu", "Pyongyang"]))
    assert history.recent() == [("and who did he meet there? (Shoigu, Pyongyang)", "Kim.")]
