"""Questions about a document itself (qa.byline): which field is asked, the subject left, and answers from the
real seed documents' header lines — including the refusals (no subject, a document without the field)."""

from __future__ import annotations

import pytest

from qa.byline import asked_field, field_span, subject_of
from qa.script import to_simplified


@pytest.mark.parametrize(
    ("question", "field"),
    [
        ("这篇报道的作者是谁？", "person"),
        ("宋家镇那篇稿件是谁写的？", "person"),
        ("伊金霍洛镇的政府工作报告是谁作的？", "person"),
        ("这份政府工作报告由谁来作？", "person"),
        ("這篇文章的來源是哪裡？", "source"),
        ("阿拉善高新区的报道是哪天发布的？", "date"),
        ("那篇报道发布于什么时候？", "date"),
        ("伊金霍洛镇的政府工作报告是哪一天作的？", "delivered"),
        ("这篇讲话是什么时候讲的？", "delivered"),
        ("伊金霍洛镇政府工作报告是在哪天作的报告？", "delivered"),
        ("伊金霍洛镇这份政府工作报告是哪天在大会上作的？", "delivered"),
        ("那篇政府工作报告的报告日期是哪天？", "delivered"),
        ("人代会上作报告的日期是哪天？", "delivered"),
        ("报告中提到哪一天开展集中清扫工作？", None),  # 工作 is no delivery: content
        ("宋家镇那篇文章的责任编辑是谁？", "editor"),
        ("這篇報導由誰審核？", "editor"),
        ("这篇报告中审核通过的项目有多少个？", None),  # 审核 here is content, not a credit
        ("作者是谁？", None),  # names no document
        ("宋家镇的镇长是谁？", None),  # a question about the content
        ("伊金霍洛镇政府工作报告提出的发展目标是什么？", None),  # names the report, asks for no field
    ],
)
def test_asked_field(question, field):
    assert asked_field(question) == field


def test_the_subject_is_what_names_the_document():
    assert subject_of("宋家镇那篇报道是谁写的？").startswith("宋家镇")
    assert "报道" not in subject_of("宋家镇那篇报道是谁写的？") and "写的" not in subject_of("宋家镇那篇报道是谁写的？")
    assert "这份" not in subject_of("伊金霍洛镇这份政府工作报告是哪天在大会上作的？")  # a pointer names nothing
    assert "日期" not in subject_of("人代会上作报告的日期是哪天？")  # the field's words go whole, 报告 in them
    assert subject_of("宋家镇这份材料的来源是哪里？").split() == ["宋家镇", "的", "是哪里?"]  # and its noun
    assert "宋家镇" in subject_of("那篇关于宋家镇的文章是谁写的？")  # not a phrase before 的


def test_field_span_points_at_the_header_value(seed_documents):
    for document in seed_documents.values():
        for field, key in (("source", "source"), ("date", "date"), ("editor", "editor"), ("delivered", "delivered")):
            span = field_span(document, field)
            if key not in document.metadata:
                assert span is None
            else:
                assert document.text[span[0]:span[1]] == document.metadata[key]


@pytest.mark.parametrize(
    ("question", "gold", "source"),
    [
        ("阿拉善高新区的报道是哪天发布的？", "2022-04-12", "003_70f536fde6f55a41.txt"),
        ("宋家镇那篇介绍党建引领高质量发展的稿件是谁写的？", "方凤玲", "004_85481d78a7325808.txt"),
        ("介紹阿拉善高新區農牧區黨建品牌的那篇文章，作者是誰？", "楊占軍", "003_70f536fde6f55a41.txt"),
        ("伊金霍洛镇这篇报告是谁作的？", "苏利军", "001_84905cf744b120d4.txt"),  # the speaker of a report
        ("宋家镇这篇东西的作者是谁？", "方凤玲", "004_85481d78a7325808.txt"),  # named by the pointer's noun
        ("介绍宋家镇党建引领高质量发展的那篇稿件，责任编辑是谁？", "裴佳佳", "004_85481d78a7325808.txt"),
        ("伊金霍洛镇人代会上的那篇政府工作报告是几月几日作的？", "2023年4月20日", "001_84905cf744b120d4.txt"),
    ],
)
def test_header_fields_are_answered_from_the_named_document(engine, question, gold, source):
    result = engine.answer(question)
    assert result.found and result.source == source
    assert result.text == gold
    document = engine.documents[source]
    assert to_simplified(document.text[result.start:result.end]) == to_simplified(gold)
    assert result.paragraph == document.paragraph_at(result.start)
    assert result.citations[0].source == source
    assert 0.5 <= result.score <= 1.0


@pytest.mark.parametrize(
    "question",
    ["这篇文章的作者是谁？",  # no subject: which document is meant is not said
     "新城区的报告是哪天发布的？"],  # the 新城区 document has no date; another document's date is no answer
)
def test_no_header_answer_without_the_named_documents_field(engine, question):
    result = engine.answer(question)
    assert not result.found or result.source != "001_84905cf744b120d4.txt" or "2023-04-22" not in result.text
    assert not (result.found and result.text in {"苏利军", "杨占军", "方凤玲", "楊占軍", "方鳳玲"})
