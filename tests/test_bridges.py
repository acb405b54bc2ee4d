"""Cross-script bridges: one date, place or number however a language writes it."""

from __future__ import annotations

import pytest

from retrieval.question.bridges import dates, expansion, numbers, places


@pytest.mark.parametrize(
    "text",
    ["on July 27", "27 July 2023", "27 июля", "27 юли", "ngày 27/7", "ngày 27 tháng 7", "27-7", "27.7.2023"],
)
def test_one_date_in_every_script_and_format(text: str) -> None:
    assert "d:07-27" in dates(text)


@pytest.mark.parametrize("text", ["tháng 6 năm ngoái", "през юни", "в июне", "in June"])
def test_month_names_meet_as_month_numbers(text: str) -> None:
    assert "m:06" in dates(text)


def test_weekdays_and_years_are_dates_too() -> None:
    assert dates("on Wednesday, 3 September 2025") >= {"w:2", "d:09-03", "y:2025"}
    assert "w:2" in dates("vào thứ Tư") and "w:2" in dates("в сряда") and "w:2" in dates("в среду")


def test_decimals_and_the_verb_may_are_not_dates() -> None:
    assert dates("2.5 million people may come") == frozenset()


@pytest.mark.parametrize("text", ["Pyongyang", "Bình Nhưỡng", "Пхенян", "в Пхеньяне"])
def test_one_city_in_every_script(text: str) -> None:
    assert "p:Asia/Pyongyang" in places(text)


def test_countries_come_from_cldr_and_iso_names() -> None:
    assert places("Triều Tiên") == places("Северна Корея") == places("КНДР") == places("North Korea") == {"p:KP"}
    assert "p:RU" in places("России") and "p:RU" in places("Русия")


def test_digit_grouping_does_not_change_a_number() -> None:
    assert numbers("15.000 soldiers") == numbers("15,000") == numbers("15 000") == {"n:15000"}


def test_a_place_widens_the_lexical_query_into_other_scripts() -> None:
    widened = expansion("When did Shoigu visit Pyongyang?")
    assert "binh nhuong" in widened and any(w.startswith("pkhen") for w in widened)
    assert expansion("What did Kim promise?") == []
