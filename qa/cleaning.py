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
from collections import Counter
from html.parser import HTMLParser

from .script import to_search, to_simplified
from .types import Document

_HAN = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_TONED = "āáǎàēéěèīíǐìōóǒòūúǔùǖǘǚǜńňǹḿ"
_SYLLABLE = (
    r"(?:zh|ch|sh|[bpmfdtnlgkhjqxrzcsyw])?"
    r"(?:iang|iong|uang|ang|eng|ing|ong|ian|iao|uai|uan|üan|ai|ei|ao|ou|an|en|in|un|ün|ia|ie|iu|ua|uo|ui|üe|ue"
    r"|er|a|o|e|i|u|ü|v|ng|n|m)"
)
_PINYIN_AFTER_HAN = re.compile(rf"(?<=[{_HAN}])[(（]([a-zü{_TONED}]{{1,7}})[)）]")
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
_WATERMARK = re.compile(rf"[{_HAN}A-Za-z0-9]{{1,12}}[ \t\u3000]*{_URL}", re.I)
_SENTENCE_END = "。！？!?；;…"
# "name + address" after the end of a line's last sentence: spam even when it occurs only once.
_TRAILING_WATERMARK = re.compile(
    rf"(?:(?<=[{_SENTENCE_END}])|(?<=[{_SENTENCE_END}][”’」』）)]))"
    rf"[ \t\u3000]*[{_HAN}A-Za-z0-9]{{1,12}}[ \t\u3000]*{_URL}[ \t\u3000]*$",
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
_DATE = re.compile(r"\d{4}\s*[-/.年]\s*\d{1,2}\s*[-/.月]\s*\d{1,2}(?:\s*日)?")
_TITLE_WORDS = "书记|镇长|乡长|县长|市长|区长|旗长|主任|主席|局长|部长|厅长|省长|苏木达"
_SPEAKER = re.compile(rf"(?:{_TITLE_WORDS})\S*\s+(?P<name>[{_HAN}·]{{2,4}})$")
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
    if len(line) > _MAX_CHROME_CHARS or line.endswith(tuple(_SENTENCE_END)) and len(line) > 25:
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
        if counts.get(line, 0) < 2 or line.endswith(tuple(_SENTENCE_END))
    ]


def header_metadata(lines: list[str]) -> dict[str, str]:
    """Date, source, author and speaker from the first lines of a document (header lines, not the
    sentences of the text: "资金来源：…。" is no source)."""
    metadata: dict[str, str] = {}
    for line in lines[:_HEADER_LINES]:
        if len(line) > 25 and line.endswith(tuple(_SENTENCE_END)):
            continue
        simplified = to_simplified(line)
        for match in _META_FIELD.finditer(simplified):
            key = _META_KEYS[match.group("key")]
            value = line[match.start("value"):match.end("value")].strip()
            if value and key not in metadata:
                metadata[key] = value
        if "date" not in metadata and (date := _DATE.search(line)) and len(line) <= _MAX_CHROME_CHARS:
            metadata["date"] = date.group(0)
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
    if len(first) <= _MAX_TITLE_CHARS and not first.endswith(tuple(_SENTENCE_END)):
        return first
    cut = re.search(rf"[{_SENTENCE_END}]", first)
    opening = first[: cut.start()] if cut else first
    return opening[:40]


def clean_text(source: str, raw: str, sha256: str = "", suffix: str = "") -> Document:
    """Turn decoded file text into a ``Document`` (text, aligned search form, paragraphs, metadata)."""
    html_title = ""
    if suffix in (".html", ".htm") or looks_like_html(raw):
        raw, html_title = html_to_text(raw)
    else:
        raw = html.unescape(raw) if "&" in raw and re.search(r"&(?:#\d+|[a-z]+);", raw) else raw
    raw = remove_pinyin(raw.replace("\r\n", "\n").replace("\r", "\n").replace("\u200b", ""))
    lines = remove_watermarks([" ".join(line.split()) for line in raw.split("\n")])
    metadata: dict[str, str] = {}
    kept: list[str] = []
    for line in (line.strip() for line in lines):
        if not line:
            continue
        editor = _EDITOR.match(to_simplified(line))
        if editor:
            metadata.setdefault("editor", line[editor.start("name"):editor.end("name")].strip())
        elif not (is_chrome(line) or is_keyword_junk(line)):
            kept.append(line)
    kept = drop_repeated_short_lines(kept)
    metadata = {**header_metadata(kept), **metadata}
    title = choose_title(kept, remove_pinyin(html_title))
    if title:
        metadata["title"] = title
    text = "\n".join(kept)
    paragraphs, offset = [], 0
    for line in kept:
        paragraphs.append((offset, offset + len(line)))
        offset += len(line) + 1
    return Document(source, title, text, to_search(text), paragraphs, metadata, sha256)
