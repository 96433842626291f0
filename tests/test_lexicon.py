"""qa.lexicon: the shared Chinese word lists are in the form the pipeline compares them with."""

from __future__ import annotations

import doctest

import qa.lexicon
from qa.lexicon import (
    AMOUNT_UNITS,
    ASKED_UNIT,
    FIGURE_UNIT,
    NUMBER,
    NUMBER_WITH_UNIT,
    OFFICIAL_TITLES,
    ORGANISATIONS,
    PLACE_SUFFIXES,
    PRONOUNS,
    QUANTITY_QUESTION,
    QUESTION_WORDS,
    STOP_TOKENS,
    is_han,
)
from qa.script import to_search


def test_doctests():
    assert doctest.testmod(qa.lexicon).failed == 0


def test_every_word_is_in_search_form():
    """Words are matched against ``to_search`` text: a traditional or full-width word would never match."""
    words = [*PLACE_SUFFIXES, *QUESTION_WORDS, *STOP_TOKENS, *OFFICIAL_TITLES, *ORGANISATIONS, *PRONOUNS,
             *AMOUNT_UNITS]
    assert [word for word in words if to_search(word) != word] == []


def test_nested_units_come_longest_first_so_a_regex_alternation_takes_the_whole_unit():
    for i, unit in enumerate(AMOUNT_UNITS):
        assert not any(unit in later and unit != later for later in AMOUNT_UNITS[i + 1:]), unit


def test_han_covers_extension_a_and_compatibility_ideographs():
    assert is_han("\u3400") and is_han("\uf900") and is_han("鄉")
    assert not is_han("⼯") and not is_han("1")  # a Kangxi radical is not an ideograph until cleaning maps it


def test_units_asked_for_and_given():
    assert ASKED_UNIT.search("预计年出栏肉鸡多少万只？").groups() == ("只", "")
    assert ASKED_UNIT.search("新增了多少名工作人员？").groups() == ("名", "工作人员")
    assert ASKED_UNIT.search("全年总收入是多少？") is None and ASKED_UNIT.search("有哪几个村？") is None
    assert FIGURE_UNIT.findall("接待38万余人次，投资3.26亿元，第2届，面积*亩") == ["人", "元", "届"]
    assert NUMBER_WITH_UNIT.findall("设立一名网格长，1500亩") == [("一", "名"), ("1500", "亩")]


def test_quantity_questions_and_numerals():
    asking = ["全年总收入是多少？", "被评为几星级党组织？", "是哪一年建成的？", "哪年成立的？", "占地多大？"]
    assert all(QUANTITY_QUESTION.search(question) for question in asking)
    not_asking = ["有哪几个村？", "几乎所有村都通了路吗？", "党委书记是谁？", "在哪个村举办？"]
    assert not any(QUANTITY_QUESTION.search(question) for question in not_asking)
    assert [NUMBER.findall(text) for text in ["1950人", "十星级", "两个校区", "２０２２年", "1.99亿元"]] == [
        ["1950"], ["十"], ["两"], ["２０２２"], ["1.99", "亿"]]
    assert not any(NUMBER.search(text) for text in ["总面积*平方公里", "阿拉坦花嘎查", "春季"])
