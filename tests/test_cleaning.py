"""qa.cleaning on the real seed files: every kind of noise they carry goes, every sentence of content stays.

The expectations are computed from the raw files with rules of their own (markup and pinyin stripped
by simple regular expressions here, not by the module), so the tests do not repeat the code under test.
"""

from __future__ import annotations

import doctest
import re

import pytest

import qa.cleaning
from qa.cleaning import (
    clean_text,
    header_metadata,
    html_to_text,
    is_chrome,
    is_keyword_junk,
    remove_pinyin,
    remove_watermarks,
)
from qa.settings import PROJECT_ROOT
from qa.types import Document

SEEDS = PROJECT_ROOT / "seeds"
HTML_FILE = "000_8d1e42f9393d2f5c.txt"  # one line of HTML, bare section titles between tags
WEB_PAGE = "001_84905cf744b120d4.txt"  # saved page: site header, meta lines, footer
WATERMARKED = "002_fd7ce142d4be01a4.txt"  # "稿子汇 www.gaozihui.com" spam, * redactions
ANNOTATED = "003_70f536fde6f55a41.txt"  # pinyin annotations, widget lines, 責編, SEO list
EDITED = "004_85481d78a7325808.txt"  # pinyin annotations, 時間/作者/來源 line, 【責任編輯】

# A pinyin annotation: Latin letters (tone marks included) in parentheses right after a Han character.
ANNOTATION = re.compile(r"(?<=[\u4e00-\u9fff])\([a-zA-Z\u00c0-\u024f\u1e00-\u1eff]{1,7}\)")
TONE_MARKS = set("āáǎàēéěèīíǐìōóǒòūúǔùǖǘǚǜńňǹḿ")
TAG = re.compile(r"<[^>]*>")
URL = re.compile(r"www\.|https?:|\.com|\.cn", re.I)


def raw(name: str) -> str:
    return (SEEDS / name).read_text(encoding="utf-8")


def fold(text: str) -> str:
    """White space as the cleaner leaves it: runs folded to one space, none at the ends."""
    return " ".join(text.split())


def raw_lines(name: str) -> list[str]:
    """The non-empty lines of a (non-HTML) seed file, annotations stripped, white space folded."""
    return [line for line in (fold(ANNOTATION.sub("", line)) for line in raw(name).split("\n")) if line]


def paragraphs(doc: Document) -> list[str]:
    return [doc.text[a:b] for a, b in doc.paragraphs]


def dropped_lines(name: str, doc: Document) -> list[str]:
    kept = set(paragraphs(doc))
    return [line for line in raw_lines(name) if line not in kept]


def content_sentences(name: str) -> list[str]:
    """Each raw line's (or, for HTML, each text run's) longest sentence ending in 。 without a web address."""
    sentences = []
    for piece in re.split(r"<[^>]*>|\n", ANNOTATION.sub("", raw(name))):
        candidates = [fold(s) for s in re.findall(r"[^。！？]*。", piece) if not URL.search(s)]
        if candidates:
            sentences.append(max(candidates, key=len))
    return sentences


@pytest.mark.parametrize("name", [HTML_FILE, WEB_PAGE, WATERMARKED, ANNOTATED, EDITED])
def test_every_content_sentence_is_kept(seed_documents, name) -> None:
    sentences = content_sentences(name)
    assert len(sentences) >= 5
    missing = [s for s in sentences if s not in seed_documents[name].text]
    assert not missing


def test_html_tags_go_and_bare_titles_between_tags_are_paragraphs(seed_documents) -> None:
    doc, markup = seed_documents[HTML_FILE], raw(HTML_FILE)
    assert not TAG.search(doc.text) and "ql-block" not in doc.text and "rgb(" not in doc.text
    bare = re.findall(r"</(?:p|ul|li|div)>\s*([^<\s][^<]*?)\s*<(?:p|ul|li|div)\b", markup)
    assert "乘风破浪、扬帆远航的2021" in bare and len(bare) >= 2
    assert set(bare) <= set(paragraphs(doc))


def test_bold_lead_in_stays_with_its_list_item(seed_documents) -> None:
    doc, markup = seed_documents[HTML_FILE], raw(HTML_FILE)
    items = re.findall(r"<li>(.*?)</li>", markup, re.S)
    assert len(items) >= 10
    kept = paragraphs(doc)
    for item in items:
        lead = re.match(r"\s*<b[^>]*>(.*?)</b>", item).group(1)
        whole = fold(TAG.sub("", item))
        assert whole in kept and whole.startswith(lead) and len(whole) > len(lead)
        assert lead not in kept  # the lead-in is not a paragraph of its own


def test_web_page_chrome_goes_and_header_facts_stay(seed_documents) -> None:
    doc = seed_documents[WEB_PAGE]
    assert dropped_lines(WEB_PAGE, doc) == [
        "伊金霍洛旗人民政府欢迎您!",
        "伊金霍洛旗人民政府办公室.政务 | www.yjhl.gov.cn |",
        "工作报告 首页 >政务公开 >工作报告",
        "字号:",
        "保存",
        "政策解读:【图解】伊金霍洛镇政府工作报告重点来了!",
        "主办:伊金霍洛旗人民政府",
        "承办:伊金霍洛旗政务服务局",
        "网站地图",
        "蒙ICP备12002112号",
        "政府网站标识码:1506270014",
        "蒙公网安备 15062702000137号",
        "邮箱:yjhlqzwgkbgs@163.com",
        "网站违法和不良信息举报电话:",
        "0477-8582238",
    ]
    kept = paragraphs(doc)
    assert kept[:5] == [
        "政府工作报告(草案)在伊金霍洛镇第四届人民代表大会第三次会议上",
        "来源:伊金霍洛镇人民政府",
        "发布时间:2023-04-22 16:44:00",
        "——在伊金霍洛镇第四届人民代表大会第三次会议上",
        "伊金霍洛镇党委副书记、政府镇长提名人选 苏利军",
    ]
    assert doc.metadata == {
        "title": kept[0], "source": "伊金霍洛镇人民政府", "date": "2023-04-22 16:44:00", "speaker": "苏利军",
        "delivered": "2023年4月20日",  # the line "(2023年4月20日)" under the speaker
    }
    assert not re.search(r"ICP|公网安备|@|www\.|0477-", doc.text)


def test_the_day_a_report_was_delivered_is_a_line_of_its_own_in_parentheses() -> None:
    lines = ["在全县经济工作会议上的讲话", "县长 王明", "（2024年1月5日）", "同志们：", "（一）2023年工作回顾"]
    assert header_metadata(lines) == {"speaker": "王明", "delivered": "2024年1月5日", "date": "2024年1月5日"}
    assert "delivered" not in header_metadata(["会议指出（2024年1月5日召开）要抓好落实。"])


def test_watermarks_go_from_every_line_and_the_sentences_stay(seed_documents) -> None:
    doc, text = seed_documents[WATERMARKED], raw(WATERMARKED)
    fragments = set(re.findall(r"\S+ www\.\S+", text))
    assert fragments == {"稿子汇 www.gaozihui.com", "公文汇 www.gongwenhui.com"}
    assert not re.search(r"www\.|稿子汇|公文汇|gaozihui|gongwenhui", doc.text)
    kept = paragraphs(doc)
    appended = 0
    for line in raw_lines(WATERMARKED):
        rest = fold(re.sub(r"\S+ www\.\S+", "", line))
        if rest:  # the line minus the watermark is a paragraph, untouched
            assert rest in kept
            appended += rest != line
    assert appended == 2  # two lines had the watermark appended after their last sentence
    assert dropped_lines(WATERMARKED, doc) == [line for line in raw_lines(WATERMARKED) if line not in kept]


def test_redactions_are_kept_and_never_filled_in(seed_documents) -> None:
    doc, text = seed_documents[WATERMARKED], raw(WATERMARKED)
    assert doc.text.count("*") == text.count("*") > 30
    assert "新城区*镇地处*东北方" in doc.text and "*余名党员带头入户排查" in doc.text


@pytest.mark.parametrize("name", [ANNOTATED, EDITED])
def test_pinyin_annotations_go_and_every_character_stays(seed_documents, name) -> None:
    doc, text = seed_documents[name], raw(name)
    assert len(ANNOTATION.findall(text)) > 150
    assert not ANNOTATION.search(doc.text) and not TONE_MARKS & set(doc.text)
    assert not re.search(r"\([a-z]+\)", doc.text)
    kept = set(paragraphs(doc))
    content = [line for line in raw_lines(name) if "。" in line]
    assert len(content) >= 5 and all(line in kept for line in content)  # whole lines, every character


def test_widgets_and_keyword_list_go_and_header_and_credit_facts_stay(seed_documents) -> None:
    doc = seed_documents[ANNOTATED]
    dropped = dropped_lines(ANNOTATED, doc)
    assert dropped[:-1] == ["1", "鄉村干部報網", "微信公眾號", "鄉村干部報網", "官方微博"]
    assert dropped[-1].startswith("手游| 辽中县| 南昌市|") and dropped[-1].count("|") > 30
    assert "|" not in doc.text and "辽中县" not in doc.text
    assert paragraphs(doc)[:2] == ["內蒙古阿拉善高新區:建強農牧區黨建品牌助推鄉村振興",
                                   "2022-04-12 09:40:00 來源:鄉村干部報網 作者:楊占軍"]
    assert paragraphs(doc)[-1] == "責編:車婧"
    assert doc.metadata == {"title": "內蒙古阿拉善高新區:建強農牧區黨建品牌助推鄉村振興", "author": "楊占軍",
                            "date": "2022-04-12", "source": "鄉村干部報網", "editor": "車婧"}


def test_responsible_editor_line_stays_as_a_fact_of_the_document(seed_documents) -> None:
    doc = seed_documents[EDITED]
    assert dropped_lines(EDITED, doc) == []
    assert paragraphs(doc)[-1] == "【責任編輯:裴佳佳】"
    assert doc.metadata == {"title": "宋家鎮:“五聚焦”扎實推進黨建引領高質量發展", "date": "2023-07-25 10:50",
                            "author": "方鳳玲", "source": "宋家鎮", "editor": "裴佳佳"}
    assert "圍繞黨建+”推動基層黨建" in doc.text  # an unbalanced quote of the source is left as it is


def test_metadata_values_stand_in_the_text(seed_documents) -> None:
    """Answers about the date, source, author, speaker or editor are cited from the text, so the values must be
    there."""
    for doc in seed_documents.values():
        assert doc.text.startswith(doc.metadata["title"])
        for key, value in doc.metadata.items():
            assert value in doc.text, (doc.source, key)


def test_paragraphs_are_the_lines_of_the_text(seed_documents) -> None:
    for doc in seed_documents.values():
        lines = doc.text.split("\n")
        assert paragraphs(doc) == lines
        assert all(line and line == line.strip() for line in lines)
        for number, (start, end) in enumerate(doc.paragraphs, start=1):
            assert doc.paragraph_at(start) == doc.paragraph_at(end - 1) == number
        assert all(a < b for (_, a), (b, _) in zip(doc.paragraphs, doc.paragraphs[1:], strict=False))


@pytest.mark.parametrize("line", [
    "关闭污染企业12家", "保存完好的古建筑群", "返回乡村的大学生", "首页设计大赛获奖", "(一)主要工作及成效",
    "2023年工作计划", "伊金霍洛镇党委副书记、政府镇长 苏利军",
])
def test_headings_are_not_chrome(line) -> None:
    assert not is_chrome(line)


@pytest.mark.parametrize("line", [
    "打印", "【打印】【关闭】", "打印本页 关闭窗口", "分享到: 微信 朋友圈", "字号:大 中 小",
    "【字体：大 中 小】", "微信公眾號", "上一篇:关于做好春耕的通知", "返回顶部", "首页 > 政务公开 > 工作报告",
    "Copyright © 2023 某某镇人民政府", "7", "0477-8582238", "电话:0477-8582238", "某某网 www.example.gov.cn",
])
def test_page_widgets_are_chrome(line) -> None:
    assert is_chrome(line)


def test_a_single_watermark_after_the_last_sentence_goes() -> None:
    lines = ["第一段。获评国家级生态乡镇。 某某网 www.mouwang.com", "推行“网上办”平台 www.zwfw.gov.cn 办理。"]
    assert remove_watermarks(lines) == ["第一段。获评国家级生态乡镇。", lines[1]]


def test_keyword_lists_are_junk_but_tables_are_not() -> None:
    assert is_keyword_junk("手游| 辽中县| 南昌市| 阿巴嘎旗| 鸡东县| 鹿邑县| 肃宁县|")
    assert not is_keyword_junk("| 序号 | 项目 | 投资 | 进度 | 单位 | 时间 |")
    assert not is_keyword_junk("完成投资 | 1.2亿元 | 同比增长10%")


def test_remove_pinyin_drops_annotations_only() -> None:
    assert remove_pinyin("內(nèi)蒙古鄉（xiāng）村們(men)") == "內蒙古鄉村們"
    assert remove_pinyin("互联网(app)和党委(扩大)会议") == "互联网(app)和党委(扩大)会议"  # not annotations
    assert remove_pinyin("会(men)") == "会(men)"  # a plain syllable only after a traditional character


def test_html_page_title_scripts_and_navigation() -> None:
    markup = ("<html><head><title>鄉(xiāng)村振興報告</title><style>p{color:red}</style></head><body>"
              "<nav>首页 | 政务公开</nav><h1>报告</h1><p>第一段&nbsp;内容。<br>第二行。</p>"
              "<script>var x = 1;</script><footer>版权所有</footer></body></html>")
    text, title = html_to_text(markup)
    assert title == "鄉(xiāng)村振興報告"
    assert "color" not in text and "var x" not in text and "政务公开" not in text and "版权所有" not in text
    doc = clean_text("a.html", markup, suffix=".html")
    assert paragraphs(doc) == ["报告", "第一段 内容。", "第二行。"]
    assert doc.title == doc.metadata["title"] == "鄉村振興報告"


def test_header_fields_end_at_the_next_label_and_sentences_are_not_headers() -> None:
    doc = clean_text("a.txt", "标题\n发布时间：2023-04-22 16:44:00 来源：某某镇人民政府 浏览次数：123\n"
                              "（责任编辑：张三）\n为加快发展，资金来源：上级拨款和自筹资金，已完成投资一千万元。")
    assert doc.metadata == {"title": "标题", "date": "2023-04-22 16:44:00", "source": "某某镇人民政府",
                            "editor": "张三"}
    assert "（责任编辑：张三）" in paragraphs(doc) and "资金来源：上级拨款" in doc.text


def test_empty_and_chrome_only_input_gives_an_empty_document() -> None:
    doc = clean_text("a.txt", "\n 打印 \n\n0477-8582238\n")
    assert doc.text == doc.search == "" and doc.paragraphs == []


def test_module_examples() -> None:
    assert doctest.testmod(qa.cleaning).failed == 0
