"""Finding the corpus files and turning them into text: decoding text files, extracting PDF and Word files.

>>> text, encoding, warnings = decode("乡村振兴".encode("gbk"))
>>> text, encoding
('乡村振兴', 'gb18030')

A PDF's pages are separated by ``PAGE_BREAK`` (a form feed), which cleaning turns into page numbers; its
lines are joined back into paragraphs by their position on the page. A Word file gives its paragraphs
(headings included) and each table row as one line, ``| cell | cell |``.
"""

from __future__ import annotations

import codecs
import hashlib
import logging
import os
import re
import stat
import statistics
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path

import docx
import pdfplumber
from docx.opc.exceptions import PackageNotFoundError
from pdfminer.pdfdocument import PDFEncryptionError, PDFPasswordIncorrect
from pdfplumber.utils.exceptions import PdfminerException

from .lexicon import HAN_RUN, SENTENCE_ENDS

TEXT_SUFFIXES = (".txt", ".md", ".html", ".htm")
DOCUMENT_SUFFIXES = (".pdf", ".docx")
SUPPORTED_SUFFIXES = TEXT_SUFFIXES + DOCUMENT_SUFFIXES
PAGE_BREAK = "\f"
# A file with at most this many invalid bytes, or this share of its bytes, is text with some damage (a truncated
# download, a few broken characters): it is read with them replaced and a warning. More means it is not text.
MAX_INVALID_BYTES = 16
MAX_INVALID_FRACTION = 0.01
MIN_COMMON_SHARE = 0.1  # real Chinese prose has ~40 % of its characters in _COMMON; garbage has ~1 %
SHARE_SAMPLE_CHARS = 100_000  # the share is measured on this many characters: enough, and bounded
_ESCAPED_BYTE = re.compile("[\udc80-\udcff]")  # how errors="surrogateescape" keeps an invalid byte
_BYTES_PER_CHAR = 4  # at most, in every supported encoding: a cap of N characters reads 4 N + 4 bytes
_PDF_MAGIC = b"%PDF-"
_PDF_HEADER_BYTES = 1024  # the PDF header may follow some junk, within the first kilobyte
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # old .doc files and encrypted .docx files
_LINE_END = tuple(SENTENCE_ENDS + "：:")  # a line ending so rarely wraps
# PDF line joining, in font sizes (ems): a line wrapped before a number or a word that would not fit ends
# up to a few ems short of the right edge; a sentence end that leaves a line short ends the paragraph.
_WRAP_SLACK_EMS = 4.0
_ENDED_SLACK_EMS = 1.5
_INDENT_EMS = 0.5
_PARAGRAPH_GAP_EMS = 0.5
_SIZE_CHANGE = 0.15
_PAGE_NUMBER = re.compile(r"[-–—\s]*(?:第?\s*\d+\s*页?(?:\s*[/,，]?\s*共\s*\d+\s*页)?|\d+\s*/\s*\d+)[-–—\s]*")
_LISTED_PAGES = 10
# A space is a space the writer drew, or a gap of half an em: word processors set a narrower gap between
# Chinese and Latin letters or digits ("2023年" looks like "2023 年") that is no space in the text.
_WORD_GAP_EMS = 0.5
_BINARY_MAGIC = (b"\x89PNG", b"\xff\xd8\xff", b"GIF8", b"%PDF", b"PK\x03\x04", b"\x1f\x8b", b"\x7fELF")
# The commonest Chinese characters in both scripts: text decoded with the wrong codec has few of them.
_COMMON = set(
    "的一是在不了有和人这中大为上个国我以要他时来用们生到作地于出就分对成会可主发年动同工也能下过子说产种面而方"
    "后多定行学法所民得经十三之进着等部度家电力里如水化高自二理起小物现实加量都两体制机当使点从业本去把性好应开"
    "它合还因由其些然前外天政四日那社义事平形相全表间样与关各重新线内数正心反你明看原又么利比或但质气第向道命此"
    "變條隻沒結解問意建月公無系軍很情者最立代想已通並提直題黨程展五果料象員革位入常文總次品式活設及管特件長求老頭"
    "這個們國時來為對會發動說產種麼後經進們實體機當點從業還與關開東計區員設務鄉鎮村黨組織發傳統農業"
)


logging.getLogger("pdfminer").setLevel(logging.ERROR)  # it warns about every odd font (Chromium's PDFs)


class UnreadableFile(Exception):
    """A file that cannot be turned into text; the message says why."""


@dataclass
class SourceFile:
    """A corpus file: its path relative to the corpus folder, its bytes' hash, and how it decoded."""

    source: str
    path: Path
    sha256: str
    text: str = ""
    encoding: str = ""
    warnings: list[str] = field(default_factory=list)


def discover(corpus_dir: Path) -> tuple[list[Path], list[tuple[str, str]]]:
    """Supported files under ``corpus_dir`` (recursively, sorted) and ``(path, reason)`` for the rest."""
    found, skipped = [], []
    for root, dirs, files in os.walk(corpus_dir):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if name.startswith("."):
                continue
            path = Path(root) / name
            relative = path.relative_to(corpus_dir).as_posix()
            reason = _not_indexable(path, relative, corpus_dir)
            if reason:
                skipped.append((_printable(relative), reason))
            else:
                found.append(path)
    return found, skipped


def _not_indexable(path: Path, relative: str, corpus_dir: Path) -> str | None:
    """Why ``path`` is left out of the index, or None. Only regular files are opened: reading a named
    pipe would block the build for ever, and a device could be endless."""
    if _printable(relative) != relative:
        return "the file name is not valid UTF-8 (rename the file)"
    if path.is_symlink() and not path.resolve().is_relative_to(corpus_dir.resolve()):
        return "link to a file outside the corpus folder"
    if path.suffix.lower() not in SUPPORTED_SUFFIXES:
        return f"unsupported file type '{path.suffix or path.name}'"
    try:
        mode = path.stat().st_mode
    except OSError as error:
        return f"cannot be read ({error.strerror or error})"
    if not stat.S_ISREG(mode):
        return "not a regular file"
    return None


def _printable(name: str) -> str:
    """A file name as valid text: bytes that are not UTF-8 (kept by the OS as surrogates) become U+FFFD."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def hash_file(path: Path) -> str:
    """The sha256 of a file, read in blocks (a file of any size costs no memory)."""
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def read_source(path: Path, corpus_dir: Path, max_chars: int | None = None) -> SourceFile:
    """Read one file as text; raises ``UnreadableFile`` with the reason.

    Text files are decoded; PDF and Word files are extracted. With ``max_chars``, at most that many
    characters are kept (cut at a line break when one is near), with a warning, and only the part of the
    file that can hold them is decoded or extracted; the hash is always of the whole file.
    """
    relative = path.relative_to(corpus_dir).as_posix()
    if path.suffix.lower() in DOCUMENT_SUFFIXES:
        return _read_document(path, relative, max_chars)
    limit = None if max_chars is None else _BYTES_PER_CHAR * max_chars + _BYTES_PER_CHAR
    try:
        with open(path, "rb") as handle:
            data = handle.read() if limit is None else handle.read(limit)
            handle.seek(0)
            sha256 = hashlib.file_digest(handle, "sha256").hexdigest()
            size = handle.tell()
    except OSError as error:
        raise UnreadableFile(f"cannot be read ({error.strerror or error})") from error
    text, encoding, warnings = decode(data, complete=size == len(data))
    text, cut = _capped(text, max_chars, size, more=size > len(data))
    return SourceFile(relative, path, sha256, text, encoding, warnings + cut)


def _capped(text: str, max_chars: int | None, size: int, more: bool = False) -> tuple[str, list[str]]:
    """``text`` cut to ``max_chars`` (at a line break when one is near) when it is longer or ``more`` of
    the file was left unread, with the warning saying so; ``size`` is the file's size in bytes."""
    if max_chars is None or (len(text) <= max_chars and not more):
        return text, []
    cut = text.rfind("\n", 0, max_chars + 1)
    text = text[: cut if cut > 0.9 * max_chars else max_chars]
    return text, [f"{size / 1e6:.1f} MB: only the first {len(text):,} characters are indexed "
                  f"(limit max_file_chars = {max_chars:,})"]


def _read_document(path: Path, relative: str, max_chars: int | None) -> SourceFile:
    """Extract a PDF or Word file (``DOCUMENT_SUFFIXES``); raises ``UnreadableFile`` with the reason."""
    try:
        size = path.stat().st_size
        sha256 = hash_file(path) if size else ""
    except OSError as error:
        raise UnreadableFile(f"cannot be read ({error.strerror or error})") from error
    if not size:
        raise UnreadableFile("empty file")
    suffix = path.suffix.lower()
    text, warnings = _EXTRACTORS[suffix](path, max_chars)
    text, cut = _capped(text, max_chars, size)
    return SourceFile(relative, path, sha256, text, suffix.lstrip("."), warnings + cut)


def join_wrapped(before: str, after: str) -> str:
    """Two pieces of one line that a page or a line wrap split (see ``wrap_separator``)."""
    return before + wrap_separator(before, after) + after


def wrap_separator(before: str, after: str) -> str:
    """What goes between the two pieces of a wrapped line: a space only between two Latin letters or
    digits (Chinese has no spaces between words)."""
    if before[-1:].isascii() and before[-1:].isalnum() and after[:1].isascii() and after[:1].isalnum():
        return " "
    return ""


@dataclass
class _Layout:
    """Where a PDF's body text runs: its left and right edges, its font size and its usual line gap."""

    left: float
    right: float
    em: float
    gap: float

    @classmethod
    def measure(cls, pages: list[list[dict]]) -> _Layout:
        lines = [line for page in pages for line in page]
        lefts = [round(line["x0"]) for line in lines]
        rights = sorted(line["x1"] for line in lines)
        em = statistics.median(line["bottom"] - line["top"] for line in lines)
        gaps = [below["top"] - above["bottom"] for page in pages for above, below in pairwise(page)]
        gaps = [gap for gap in gaps if gap > 0]
        return cls(left=statistics.mode(lefts), right=rights[int(0.9 * (len(rights) - 1))], em=em,
                   gap=statistics.median(gaps) if gaps else em / 2)

    def continues(self, above: dict, below: dict, same_page: bool = True) -> bool:
        """True when ``below`` carries on the paragraph of ``above``: ``above`` runs to the right edge
        (less slack where the line ends with a word that would not fit, little where it ends a
        sentence), ``below`` starts at the left edge (a first-line indent starts a paragraph), both are
        set in the same size (a heading is larger) and no extra space parts them."""
        size_above, size_below = above["bottom"] - above["top"], below["bottom"] - below["top"]
        slack = _ENDED_SLACK_EMS if above["text"].endswith(_LINE_END) else _WRAP_SLACK_EMS
        full = above["x1"] >= self.right - slack * size_above
        flush_left = below["x0"] <= self.left + _INDENT_EMS * self.em
        same_size = abs(size_above - size_below) <= _SIZE_CHANGE * max(size_above, size_below)
        close = not same_page or below["top"] - above["bottom"] <= self.gap + _PARAGRAPH_GAP_EMS * self.em
        return full and flush_left and same_size and close


def pdf_text(path: Path, max_chars: int | None = None) -> tuple[str, list[str]]:
    """The text layer of a PDF and warnings: pages separated by ``PAGE_BREAK``, lines joined into
    paragraphs, page numbers at the top or bottom of a page left out. Pages are read until more than
    ``max_chars`` characters are found. Raises ``UnreadableFile`` when no text can be had."""
    with open(path, "rb") as handle:
        if _PDF_MAGIC not in handle.read(_PDF_HEADER_BYTES):
            raise UnreadableFile("not a valid PDF file")
    # pdfminer raises many kinds of errors on damaged files (syntax, streams, fonts): each is a reason
    try:
        with pdfplumber.open(path) as pdf:
            pages, warnings = _pdf_pages(pdf, max_chars)
    except PdfminerException as error:
        raise UnreadableFile(_pdf_problem(error.args[0] if error.args else error)) from error
    except Exception as error:
        raise UnreadableFile(_pdf_problem(error)) from error
    if not any(pages):
        raise UnreadableFile("PDF has no text layer (scanned image?); OCR is not supported")
    return _pdf_paragraphs(pages), warnings


def _pdf_pages(pdf: pdfplumber.PDF, max_chars: int | None) -> tuple[list[list[dict]], list[str]]:
    """The text lines of each page (``text``, ``x0``, ``x1``, ``top``, ``bottom``) and warnings."""
    pages: list[list[dict]] = []
    damaged: list[int] = []
    characters = 0
    for number, page in enumerate(pdf.pages, 1):
        try:
            lines = page.extract_text_lines(return_chars=False, keep_blank_chars=True,
                                            x_tolerance_ratio=_WORD_GAP_EMS)
        except Exception:  # one damaged page content stream: the other pages are still read
            lines = []
            damaged.append(number)
        page.close()
        pages.append(_without_page_number(lines))
        characters += sum(len(line["text"]) for line in lines)
        if max_chars is not None and characters > max_chars:
            break
    warnings = [f"page(s) {_numbers(damaged)} could not be read"] if damaged else []
    blank = [number for number, lines in enumerate(pages, 1) if not lines and number not in damaged]
    if blank and len(blank) < len(pages):
        warnings.append(f"page(s) {_numbers(blank)} of {len(pages)} have no text (scanned images?)")
    return pages, warnings


def _numbers(numbers: list[int]) -> str:
    return ", ".join(map(str, numbers[:_LISTED_PAGES])) + (" …" if len(numbers) > _LISTED_PAGES else "")


def _without_page_number(lines: list[dict]) -> list[dict]:
    """A page's lines without a page number standing alone at its top or bottom ("- 3 -", "第3页 共10页")."""
    if lines and _PAGE_NUMBER.fullmatch(lines[-1]["text"]):
        lines = lines[:-1]
    if lines and _PAGE_NUMBER.fullmatch(lines[0]["text"]):
        lines = lines[1:]
    return lines


def _pdf_paragraphs(pages: list[list[dict]]) -> str:
    """The pages' lines as paragraphs, one per line of text, pages separated by ``PAGE_BREAK``; a
    paragraph that runs on over a page break holds the ``PAGE_BREAK`` inside its line."""
    layout = _Layout.measure(pages)
    parts: list[str] = []
    above = None
    for number, lines in enumerate(pages):
        if number:
            runs_on = above is not None and bool(lines) and layout.continues(above, lines[0], same_page=False)
            parts.append(PAGE_BREAK if runs_on else "\n" + PAGE_BREAK)
        for index, line in enumerate(lines):
            if index:
                before = lines[index - 1]
                runs_on = layout.continues(before, line)
                parts.append(wrap_separator(before["text"], line["text"]) if runs_on else "\n")
            parts.append(line["text"])
        above = lines[-1] if lines else None
    return "".join(parts)


def _pdf_problem(error: BaseException) -> str:
    """The reason a PDF cannot be read, for the list of skipped files."""
    if isinstance(error, PDFPasswordIncorrect):
        return "PDF is encrypted (it needs a password to open)"
    if isinstance(error, PDFEncryptionError):
        return "PDF is encrypted with an unsupported method"
    detail = str(error).strip() or type(error).__name__
    return f"PDF is damaged or incomplete ({detail[:80]})"


def docx_text(path: Path, max_chars: int | None = None) -> tuple[str, list[str]]:
    """The text of a Word (.docx) file: one paragraph per line (headings included), each table row as
    one line ``| cell | cell |``; read until more than ``max_chars`` characters are found."""
    with open(path, "rb") as handle:
        if handle.read(len(_OLE_MAGIC)) == _OLE_MAGIC:
            raise UnreadableFile("Word file is encrypted or in the old .doc format (save it as .docx)")
    # python-docx raises many kinds of errors on damaged files (zip, XML, missing parts): each is a reason
    try:
        lines, characters = [], 0
        for line in _docx_lines(docx.Document(str(path))):
            lines.append(line)
            characters += len(line) + 1
            if max_chars is not None and characters > max_chars:
                break
    except (PackageNotFoundError, zipfile.BadZipFile) as error:
        raise UnreadableFile("not a valid Word (.docx) file") from error
    except Exception as error:
        detail = str(error).strip() or type(error).__name__
        raise UnreadableFile(f"not a valid Word (.docx) file ({detail[:80]})") from error
    return "\n".join(lines), []


def _docx_lines(document) -> Iterator[str]:
    """Paragraphs and table rows in reading order."""
    for block in document.iter_inner_content():
        if isinstance(block, docx.table.Table):
            yield from _table_rows(block)
        else:
            yield block.text


def _table_rows(table: docx.table.Table) -> Iterator[str]:
    """Each row as ``| cell | cell |``; a cell spanning several columns is given once."""
    for row in table.rows:
        cells = row.cells
        texts = [" ".join(cell.text.split()) for index, cell in enumerate(cells)
                 if index == 0 or cell is not cells[index - 1]]
        if any(texts):
            yield "| " + " | ".join(texts) + " |"


_EXTRACTORS: dict[str, Callable[[Path, int | None], tuple[str, list[str]]]] = {".pdf": pdf_text,
                                                                                ".docx": docx_text}


def _decode_bytes(data: bytes, codec: str, errors: str, complete: bool) -> str:
    """``data.decode``; when ``data`` is only the start of a file, an incomplete last character is dropped."""
    if complete:
        return data.decode(codec, errors=errors)
    return codecs.getincrementaldecoder(codec)(errors).decode(data, final=False)


def decode(data: bytes, complete: bool = True) -> tuple[str, str, list[str]]:
    """Decode bytes of unknown encoding: ``(text, encoding, warnings)``.

    Byte-order marks decide first; then UTF-16 without a mark (NUL bytes on alternate positions);
    then strict UTF-8; then strict GB18030, Big5 (and UTF-16 for even lengths), the best by share
    of common Chinese characters;
    last, when a file has few invalid bytes (``MAX_INVALID_BYTES`` or ``MAX_INVALID_FRACTION``), the most
    plausible decoding with each invalid byte replaced by U+FFFD and a warning naming how many.
    ``complete=False`` says ``data`` is the start of a longer file (it may end inside a character).
    """
    if not data.strip():
        raise UnreadableFile("empty file")
    for bom, codec in ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"),
                       (codecs.BOM_UTF16_BE, "utf-16")):
        if data.startswith(bom):
            return _decode_bytes(data, codec, "replace", complete), codec, []
    unmarked_utf16 = _unmarked_utf16(data)
    if unmarked_utf16:
        return _decode_bytes(data, unmarked_utf16, "replace", complete), unmarked_utf16, []
    if data.startswith(_BINARY_MAGIC):
        raise UnreadableFile("binary data, not text")
    strict = []
    utf16 = ("utf-16-le", "utf-16-be") if len(data) % 2 == 0 or not complete else ()
    for codec in ("utf-8", "gb18030", "big5", *utf16):
        try:
            strict.append((codec, _decode_bytes(data, codec, "strict", complete)))
        except UnicodeDecodeError:
            continue
    if b"\x00" in data[:4096]:  # NUL bytes: UTF-16 text, or not text at all
        strict = [(codec, text) for codec, text in strict
                  if codec.startswith("utf-16") and not _mostly_controls(text[:SHARE_SAMPLE_CHARS])]
        if not strict:
            raise UnreadableFile("binary data, not text")
    if strict and strict[0][0] == "utf-8":
        return strict[0][1], "utf-8", []
    shares = {codec: _common_share(text[:SHARE_SAMPLE_CHARS]) for codec, text in strict}
    plausible = [pair for pair in strict if shares[pair[0]] >= MIN_COMMON_SHARE]
    if plausible:
        codec, text = max(plausible, key=lambda pair: shares[pair[0]])
        return text, codec, []
    return _decode_with_replacement(data, complete)


def _unmarked_utf16(data: bytes) -> str | None:
    sample = data[:4096]
    if len(sample) < 4:
        return None
    even_nuls = sample[0::2].count(0) / len(sample[0::2])
    odd_nuls = sample[1::2].count(0) / len(sample[1::2])
    if odd_nuls > 0.3 and even_nuls < 0.05:
        return "utf-16-le"
    if even_nuls > 0.3 and odd_nuls < 0.05:
        return "utf-16-be"
    return None


def _mostly_controls(text: str) -> bool:
    """More than a tenth of the characters are control characters other than line and page breaks and tabs
    (NUL bytes decoded as text)."""
    controls = sum(ch < " " and ch not in "\t\n\r\f" for ch in text)
    return controls > 0.1 * max(1, len(text))


def _common_share(text: str) -> float:
    """Share of the Han characters that are among the commonest; for text without Han characters, 1.0 when
    it is nearly all ASCII (a plain Latin text), else 0.0."""
    han = "".join(HAN_RUN.findall(text))
    if not han:
        return 1.0 if sum(ch.isascii() for ch in text) >= 0.9 * len(text) else 0.0
    return sum(ch in _COMMON for ch in han) / len(han)


def _decode_with_replacement(data: bytes, complete: bool = True) -> tuple[str, str, list[str]]:
    """Among the codecs that leave few invalid bytes and give plausible text, the one whose text has the
    largest share of common Chinese characters (fewest invalid bytes on a tie), each invalid byte replaced by
    U+FFFD."""
    limit = max(MAX_INVALID_BYTES, MAX_INVALID_FRACTION * len(data))
    decodings = []
    for codec in ("utf-8", "gb18030", "big5"):
        escaped = _decode_bytes(data, codec, "surrogateescape", complete)
        invalid = len(_ESCAPED_BYTE.findall(escaped))
        decodings.append((codec, _ESCAPED_BYTE.sub("\ufffd", escaped), invalid))
    acceptable = [d for d in decodings
                  if d[2] <= limit and _common_share(d[1][:SHARE_SAMPLE_CHARS]) >= MIN_COMMON_SHARE]
    if not acceptable:
        codec, _, invalid = min(decodings, key=lambda d: d[2])
        raise UnreadableFile(f"not text in any supported encoding ({invalid} invalid bytes as {codec})")
    codec, text, invalid = max(acceptable, key=lambda d: (_common_share(d[1][:SHARE_SAMPLE_CHARS]), -d[2]))
    return text, codec, [f"{invalid} invalid byte(s) replaced (read as {codec})"]
