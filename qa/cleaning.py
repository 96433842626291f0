"""From decoded file text to a clean ``Document``: HTML to paragraphs, pinyin annotations removed,
page chrome, watermarks and keyword junk dropped, metadata kept.

Every rule is about a *kind* of noise found on scraped government pages, never about one file.

>>> doc = clean_text("a.txt", "<p>內(nèi)蒙古鄉(xiāng)村振興</p><p>作者:楊占軍</p>")
>>> doc.text
'內蒙古鄉村振興\\n作者:楊占軍'
>>> doc.search[:7], doc.metadata["author"]
('内蒙古乡村振兴', '楊占軍')
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass
from html.parser import HTMLParser

from .lexicon import DATE, HAN, OFFICIAL_TITLES, SENTENCE_ENDS
from .reading import PAGE_BREAK, join_wrapped
from .script import to_search, to_simplified
from .types import Document

# CJK Radicals Supplement → the unified ideograph drawn the same (Unicode's EquivalentUnifiedIdeograph.txt,
# 14.0; NFKC maps only two of them). PDF text layers give these for ordinary characters when a font
# shares one glyph between a radical and its ideograph (民 comes out as U+2EA0, 长 as U+2ED3).
_RADICALS_SUPPLEMENT = """
2E81 5382 2E82 4E5B 2E83 4E5A 2E84 4E59 2E85 4EBB 2E86 5182 2E87 20628 2E88 5200 2E89 5202 2E8A 535C
2E8B 353E 2E8C 5C0F 2E8D 5C0F 2E8E 5140 2E8F 5C23 2E90 5C22 2E91 21BC2 2E92 5DF3 2E93 5E7A 2E94 5F51
2E95 5F50 2E96 5FC4 2E97 5FC3 2E98 624C 2E99 6535 2E9B 65E1 2E9C 65E5 2E9D 6708 2E9E 6B7A 2E9F 6BCD
2EA0 6C11 2EA1 6C35 2EA2 6C3A 2EA3 706C 2EA4 722B 2EA5 722B 2EA6 4E2C 2EA7 725B 2EA8 72AD 2EA9 738B
2EAA 24D14 2EAB 76EE 2EAC 793A 2EAD 793B 2EAE 25AD7 2EAF 7CF9 2EB0 7E9F 2EB1 7F53 2EB2 7F52 2EB3 34C1
2EB4 5197 2EB5 2626B 2EB6 7F8A 2EB7 2634C 2EB8 2634B 2EB9 8002 2EBA 8080 2EBB 807F 2EBC 8089 2EBD 26951
2EBE 8279 2EBF 8279 2EC0 8279 2EC1 864E 2EC2 8864 2EC3 8980 2EC4 897F 2EC5 89C1 2EC6 89D2 2EC7 278B2
2EC8 8BA0 2EC9 8D1D 2ECA 27FB7 2ECB 8F66 2ECC 8FB6 2ECD 8FB6 2ECE 8FB6 2ECF 9091 2ED0 9485 2ED1 9577
2ED2 9578 2ED3 957F 2ED4 95E8 2ED5 28E0F 2ED6 961D 2ED7 96E8 2ED8 9752 2ED9 97E6 2EDA 9875 2EDB 98CE
2EDC 98DE 2EDD 98DF 2EDE 2967F 2EDF 98E0 2EE0 9963 2EE1 29810 2EE2 9A6C 2EE3 9AA8 2EE4 9B3C 2EE5 9C7C
2EE6 9E1F 2EE7 5364 2EE8 9EA6 2EE9 9EC4 2EEA 9EFE 2EEB 6589 2EEC 9F50 2EED 6B6F 2EEE 9F7F 2EEF 7ADC
2EF0 9F99 2EF1 9F9C 2EF2 4E80 2EF3 9F9F
"""


def _radical_table() -> dict[int, str]:
    """Kangxi radicals (by NFKC) and CJK Radicals Supplement (by the table above) → ideographs, one
    character each, so a text keeps its length."""
    table = {}
    for code in range(0x2F00, 0x2FE0):
        ideograph = unicodedata.normalize("NFKC", chr(code))
        if len(ideograph) == 1 and ideograph != chr(code):
            table[code] = ideograph
    codes = _RADICALS_SUPPLEMENT.split()
    table.update({int(radical, 16): chr(int(ideograph, 16)) for radical, ideograph in zip(codes[::2], codes[1::2],
                                                                                          strict=True)})
    return table


_RADICALS = _radical_table()

_TONED = "āáǎàēéěèīíǐìōóǒòūúǔùǖǘǚǜńňǹḿ"
_SYLLABLE = (
    r"(?:zh|ch|sh|[bpmfdtnlgkhjqxrzcsyw])?"
    r"(?:iang|iong|uang|ang|eng|ing|ong|ian|iao|uai|uan|üan|ai|ei|ao|ou|an|en|in|un|ün|ia|ie|iu|ua|uo|ui|üe|ue"
    r"|er|a|o|e|i|u|ü|v|ng|n|m)"
)
_PINYIN_AFTER_HAN = re.compile(rf"(?<=[{HAN}])[(（]([a-zü{_TONED}]{{1,7}})[)）]")
_PLAIN_SYLLABLE = re.compile(rf"{_SYLLABLE}")

_BLOCK_TAGS = {
    "address", "article", "aside", "blockquote", "br", "dd", "div", "dl", "dt", "figcaption", "figure",
    "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "li", "main", "ol", "p", "pre", "section",
    "table", "td", "th", "tr", "ul",
}
_SKIPPED_TAGS = {"script", "style", "noscript", "nav", "footer", "iframe", "form", "select", "button",
                 "svg", "template", "head"}
_LOOKS_LIKE_HTML = re.compile(r"</?(?:p|div|br|span|ul|li|b|h[1-6]|table|td|a|section|article)\b[^>]*>", re.I)

_URL = r"(?:https?://)?(?:www\.)?[a-z0-9-]+(?:\.[a-z0-9-]+)*\.(?:com|cn|net|org|gov|edu|info)(?:\.cn)?(?:/\S*)?"
_URL_RE = re.compile(_URL, re.I)
_WATERMARK = re.compile(rf"[{HAN}A-Za-z0-9]{{1,12}}[ \t\u3000]*{_URL}", re.I)
# "name + address" after the end of a line's last sentence: spam even when it occurs only once.
_TRAILING_WATERMARK = re.compile(
    rf"(?:(?<=[{SENTENCE_ENDS}])|(?<=[{SENTENCE_ENDS}][”’」』）)]))"
    rf"[ \t\u3000]*[{HAN}A-Za-z0-9]{{1,12}}[ \t\u3000]*{_URL}[ \t\u3000]*$",
    re.I,
)

# Page widgets: chrome only as the whole line ("打印", "【打印】【关闭】", "微信公众号") or as a label
# before a colon ("字号:大 中 小", "上一篇:…"), so a heading such as "关闭污染企业12家" is kept.
_WIDGETS = (
    r"字号|字体|保存|打印|关闭|分享|分享到|收藏|返回|返回顶部|纠错|扫一扫|微信|微博|微信公众号|官方微博|网站地图"
    r"|联系我们|关于我们|免责声明|上一篇|下一篇|相关链接|相关阅读|相关新闻|延伸阅读|推荐阅读|政策解读|打印本页"
    r"|关闭窗口|打印此页|首页|朋友圈|QQ空间|新浪微博|手机版"
)
_WIDGET_LINE = re.compile(rf"(?:[\s【\[（(]*(?:{_WIDGETS}|大\s*中\s*小)[\s】\]）)|｜/·:：]*)+", re.I)
_CHROME_LINE = re.compile(
    r"欢迎您|欢迎访问|当前位置|您的位置|您现在的位置|^首页\s*[>＞»]|[>＞»]\s*\S+\s*[>＞»]|^扫一扫"
    rf"|^(?:{_WIDGETS})\s*[:：]"
    r"|ICP|公网安备|网站标识码|备案号|版权所有|Copyright|©"
    r"|^(?:主办|承办|协办|主管|技术支持|联系电话|电话|传真|邮箱|E-?mail|地址|邮编|网站违法和不良信息举报电话)\s*[:：]",
    re.I,
)
_EDITOR = re.compile(
    r"^[【\[（(]?\s*(?:责任编辑|责编|编辑|审核|校对|审校)\s*[:：]\s*(?P<name>[^】\]）)]*)[】\]）)]?$"
)
# A value ends where the next field starts, or another label does ("浏览次数：", "字号：", never "16:44").
_META_FIELD = re.compile(
    r"(?P<key>来源|发布时间|发布日期|时间|日期|作者|撰稿|记者|通讯员|发布者|发布机构)\s*[:：]\s*"
    r"(?P<value>.+?)(?=\s*(?:来源|发布时间|发布日期|时间|日期|作者|撰稿|记者|通讯员|发布者|发布机构)\s*[:：]"
    r"|\s+[^\s:：\d]{1,6}[:：]|$)"
)
_META_KEYS = {"来源": "source", "发布机构": "source", "发布时间": "date", "发布日期": "date", "时间": "date",
              "日期": "date", "作者": "author", "撰稿": "author", "记者": "author", "通讯员": "author",
              "发布者": "author"}
_SPEAKER = re.compile(rf"(?:{'|'.join(OFFICIAL_TITLES)})\S*\s+(?P<name>[{HAN}·]{{2,4}})$")
# the day a report or speech was delivered, a line of its own in parentheses under the speaker ("(2023年4月20日)")
_DELIVERED = re.compile(rf"^[(（]\s*(?P<date>{DATE.pattern})\s*[)）]$")
_NO_WORDS = re.compile(r"[\d\W_]{1,20}")  # stray counters, bare phone numbers
_REPEATED_LINE_CHARS = 20
_HEADER_LINES = 15
_MAX_CHROME_CHARS = 60
_MAX_TITLE_CHARS = 60


class _HTMLText(HTMLParser):
    """Collects text, turning block elements into line breaks and skipping non-content elements."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.title: list[str] = []
        self._skip_depth = 0
        self._in_title = False

    def handle_starttag(self, tag: str, attrs) -> None:
        if tag in _SKIPPED_TAGS:
            self._skip_depth += 1
        elif tag == "title":
            self._in_title = True
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIPPED_TAGS:
            self._skip_depth = max(0, self._skip_depth - 1)
        elif tag == "title":
            self._in_title = False
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title.append(data)
        elif not self._skip_depth:
            self.parts.append(data)


def html_to_text(markup: str) -> tuple[str, str]:
    """``(text, title)``: block elements become line breaks; inline elements (``<b>``, ``<span>``) stay
    inline, so a bold lead-in stays with the list item it introduces."""
    parser = _HTMLText()
    parser.feed(markup)
    parser.close()
    return "".join(parser.parts), " ".join("".join(parser.title).split())


def looks_like_html(text: str) -> bool:
    return len(_LOOKS_LIKE_HTML.findall(text[:20000])) >= 3


def remove_pinyin(text: str) -> str:
    """Drop pinyin annotations after Han characters: ``內(nèi)`` → ``內``.

    A tone-marked syllable is always an annotation; an unmarked one (neutral tone, ``們(men)``) only
    when it is a whole pinyin syllable after a traditional character.
    """

    def replace(match: re.Match) -> str:
        syllable = match.group(1)
        if any(ch in _TONED for ch in syllable):
            return ""
        before = match.string[match.start() - 1]
        if _PLAIN_SYLLABLE.fullmatch(syllable) and to_simplified(before) != before:
            return ""
        return match.group(0)

    return _PINYIN_AFTER_HAN.sub(replace, text)


def remove_watermarks(lines: list[str]) -> list[str]:
    """Remove "name + web address" fragments (watermark spam) that recur, wherever they stand, or that
    follow a line's last sentence. A line that is only such a fragment is left to ``is_chrome``."""
    counts = Counter(m.group(0).strip() for line in lines for m in _WATERMARK.finditer(line))
    repeated = [fragment for fragment, n in counts.items() if n >= 2]
    if repeated:
        longest_first = sorted(repeated, key=len, reverse=True)
        pattern = re.compile("|".join(re.escape(fragment) for fragment in longest_first))
        lines = [pattern.sub("", line) for line in lines]
    return [_TRAILING_WATERMARK.sub("", line) for line in lines]


def is_keyword_junk(line: str) -> bool:
    """A list of short items separated by bars: SEO keyword lists, tag clouds. A line that starts with
    a bar is a table row (Markdown), not junk."""
    if line.startswith(("|", "｜")):
        return False
    items = [item.strip() for item in re.split(r"[|｜]", line)]
    items = [item for item in items if item]
    return len(items) >= 6 and sum(len(item) for item in items) / len(items) <= 8


def is_chrome(line: str) -> bool:
    """Navigation, share widgets, footers, registration numbers, contact lines, stray counters."""
    if len(line) > _MAX_CHROME_CHARS or line.endswith(tuple(SENTENCE_ENDS)) and len(line) > 25:
        return False
    simplified = to_simplified(line)
    if _WIDGET_LINE.fullmatch(simplified) or _CHROME_LINE.search(simplified):
        return True
    if _URL_RE.search(line) and not any(ch in line for ch in "。，,"):
        return True
    return bool(_NO_WORDS.fullmatch(line))


def drop_repeated_short_lines(lines: list[str]) -> list[str]:
    """Short lines that are not sentences and occur more than once are widget labels or site names."""
    counts = Counter(line for line in lines if len(line) <= _REPEATED_LINE_CHARS)
    return [
        line for line in lines
        if counts.get(line, 0) < 2 or line.endswith(tuple(SENTENCE_ENDS))
    ]


def header_metadata(lines: list[str]) -> dict[str, str]:
    """Date, source, author, speaker and the day a report was delivered from the first lines of a document
    (header lines, not the sentences of the text: "资金来源：…。" is no source)."""
    metadata: dict[str, str] = {}
    for line in lines[:_HEADER_LINES]:
        if len(line) > 25 and line.endswith(tuple(SENTENCE_ENDS)):
            continue
        simplified = to_simplified(line)
        for match in _META_FIELD.finditer(simplified):
            key = _META_KEYS[match.group("key")]
            value = line[match.start("value"):match.end("value")].strip()
            if value and key not in metadata:
                metadata[key] = value
        if "date" not in metadata and (date := DATE.search(line)) and len(line) <= _MAX_CHROME_CHARS:
            metadata["date"] = date.group(0)
        if "delivered" not in metadata and (delivered := _DELIVERED.match(line.strip())):
            metadata["delivered"] = delivered.group("date")
        if "speaker" not in metadata and len(line) <= _MAX_CHROME_CHARS:
            speaker = _SPEAKER.search(simplified)
            if speaker:
                metadata["speaker"] = line[speaker.start("name"):speaker.end("name")]
    return metadata


def choose_title(lines: list[str], html_title: str) -> str:
    """The headline: the HTML title, else the first line when it is short and not a sentence, else
    the opening clause of the first line."""
    if html_title:
        return html_title
    first = lines[0] if lines else ""
    if len(first) <= _MAX_TITLE_CHARS and not first.endswith(tuple(SENTENCE_ENDS)):
        return first
    cut = re.search(rf"[{SENTENCE_ENDS}]", first)
    opening = first[: cut.start()] if cut else first
    return opening[:40]


@dataclass
class _Line:
    """A line of the text and ``(offset in the line, page)`` where each page's part of it starts."""

    text: str
    page_starts: list[tuple[int, int]]


def normalise_radicals(text: str) -> str:
    """Kangxi and supplement radicals (⼯⽔⺠, from PDF text layers) as the ordinary characters (工水民);
    one character for one, so offsets are kept."""
    return text.translate(_RADICALS)


def split_pages(raw: str) -> tuple[list[_Line], int]:
    """The lines of ``raw`` with white space collapsed and watermarks removed, each with its pages, and
    the number of pages. ``PAGE_BREAK`` starts a new page; inside a line (a paragraph running on over a
    page break) it keeps the line whole, and the new page starts within the line."""
    pages = [raw_line.split(PAGE_BREAK) for raw_line in raw.split("\n")]
    pieces = remove_watermarks([" ".join(piece.split()) for line_pieces in pages for piece in line_pieces])
    lines: list[_Line] = []
    page, taken = 1, 0
    for line_pieces in pages:
        line = _Line("", [])
        for index in range(len(line_pieces)):
            page += index > 0
            piece = pieces[taken + index].strip()
            if piece:
                line.text = join_wrapped(line.text, piece)
                line.page_starts.append((len(line.text) - len(piece), page))
        taken += len(line_pieces)
        lines.append(line)
    return lines, page


def page_offsets(lines: list[_Line], page_count: int) -> list[int]:
    """Where each page starts in ``"\\n".join(line.text for line in lines)``; a page with no text left
    starts where the text of the next page does."""
    starts: list[int | None] = [None] * page_count
    offset = 0
    for line in lines:
        for position, page in line.page_starts:
            if starts[page - 1] is None:
                starts[page - 1] = offset + position
        offset += len(line.text) + 1
    following = max(0, offset - 1)
    for index in reversed(range(page_count)):
        if starts[index] is None:
            starts[index] = following
        following = starts[index]
    return starts


def clean_text(source: str, raw: str, sha256: str = "", suffix: str = "") -> Document:
    """Turn decoded file text into a ``Document`` (text, aligned search form, paragraphs, pages, metadata).

    Radicals are normalised first; a PDF (``suffix`` ".pdf") or a text with ``PAGE_BREAK`` gets page offsets.
    """
    raw = normalise_radicals(raw)
    html_title = ""
    if suffix in (".html", ".htm") or looks_like_html(raw):
        raw, html_title = html_to_text(raw)
    else:
        raw = html.unescape(raw) if "&" in raw and re.search(r"&(?:#\d+|[a-z]+);", raw) else raw
    raw = remove_pinyin(raw.replace("\r\n", "\n").replace("\r", "\n").replace("\u200b", ""))
    paged = suffix == ".pdf" or PAGE_BREAK in raw
    lines, page_count = split_pages(raw)
    metadata: dict[str, str] = {}
    kept: list[_Line] = []
    for line in lines:
        if not line.text:
            continue
        editor = _EDITOR.match(to_simplified(line.text))
        if editor:  # a credit line is a fact of the document: kept where it stands, so an answer can cite it
            metadata.setdefault("editor", line.text[editor.start("name"):editor.end("name")].strip())
        if editor or not (is_chrome(line.text) or is_keyword_junk(line.text)):
            kept.append(line)
    survivors = set(drop_repeated_short_lines([line.text for line in kept]))
    kept = [line for line in kept if line.text in survivors]
    texts = [line.text for line in kept]
    metadata = {**header_metadata(texts), **metadata}
    title = choose_title(texts, remove_pinyin(html_title))
    if title:
        metadata["title"] = title
    text = "\n".join(texts)
    paragraphs, offset = [], 0
    for line in texts:
        paragraphs.append((offset, offset + len(line)))
        offset += len(line) + 1
    pages = page_offsets(kept, page_count) if paged else []
    return Document(source, title, text, to_search(text), paragraphs, metadata, sha256, pages)
