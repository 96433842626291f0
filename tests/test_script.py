"""qa.script: the search form (simplified, half-width, lower-case) keeps every offset of the text."""

from __future__ import annotations

import doctest

import pytest

import qa.script
from qa.script import is_traditional, to_half_width, to_search, to_simplified, to_traditional

TRADITIONAL_SEEDS = {"003_70f536fde6f55a41.txt", "004_85481d78a7325808.txt"}


def test_search_form_of_every_seed_has_the_length_of_its_text(seed_documents) -> None:
    for name, doc in seed_documents.items():
        assert len(doc.search) == len(doc.text) and doc.search == to_search(doc.text)
        assert not is_traditional(doc.search)
        assert to_simplified(doc.search) == doc.search  # already simplified
        assert is_traditional(doc.text) == (name in TRADITIONAL_SEEDS)


def test_search_form_is_aligned_character_by_character(seed_documents) -> None:
    """A span found in the search form points at the same words in the text."""
    for name in TRADITIONAL_SEEDS:
        doc = seed_documents[name]
        changed = sum(a != b for a, b in zip(doc.text, doc.search, strict=True))
        assert changed > 200
        for start, end in doc.paragraphs:
            assert to_search(doc.text[start:end]) == doc.search[start:end]
    doc = seed_documents["004_85481d78a7325808.txt"]
    start = doc.search.index("宋家镇")
    assert doc.text[start:start + 3] == "宋家鎮"


def test_either_script_gives_the_same_search_form() -> None:
    assert to_search("鄉村振興") == to_search("乡村振兴") == "乡村振兴"
    assert to_search("內蒙古阿拉善高新區黨建") == "内蒙古阿拉善高新区党建"
    assert to_simplified(to_traditional("宋家镇引进本土人才回乡投资项目")) == "宋家镇引进本土人才回乡投资项目"


def test_half_width_and_lower_case() -> None:
    assert to_half_width("ＡＢＣ１２３：　！") == "ABC123: !"
    assert to_search("ＡＢＣ区　２０２３年") == "abc区 2023年"
    assert to_half_width("《》“”，。") == "《》“”,。"  # the full-width comma maps; 。 and quotes do not


def test_a_length_changing_conversion_falls_back_to_characters(monkeypatch) -> None:
    """OpenCC converts phrase by phrase; were a phrase to change length, offsets would break, so the
    conversion falls back to one character at a time."""

    class Lengthening:
        def convert(self, text: str) -> str:
            return "".join({"鄉": "乡", "U": "優盤"}.get(ch, ch) for ch in text)

    qa.script._simplify_char.cache_clear()
    monkeypatch.setattr(qa.script, "_converter", lambda config: Lengthening())
    try:
        assert to_simplified("U鄉村") == "U乡村"
        assert len(to_search("ＵU鄉")) == 3
    finally:
        qa.script._simplify_char.cache_clear()


def test_is_traditional() -> None:
    assert is_traditional("宋家鎮引進本土人才回鄉投資項目多少個？")
    assert not is_traditional("宋家镇引进本土人才回乡投资项目多少个？")
    assert not is_traditional("2023年")  # nothing to convert either way


def test_module_examples() -> None:
    assert doctest.testmod(qa.script).failed == 0


@pytest.mark.parametrize("text", ["", "abc", "內(nèi)蒙古", "İstanbul鄉"])
def test_search_form_never_changes_length(text) -> None:
    assert len(to_search(text)) == len(text)
