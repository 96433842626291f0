"""PDF and Word files, made from the seed reports by real writers: headless Chromium prints PDFs with the Noto
CJK fonts (Debian's fonts-noto-cjk), python-docx writes Word files, Pillow saves a scanned page as a PDF and
pypdf encrypts one. The writers are those of ``benchmarks/extraction.py``, whose figures set the shares
asserted here (docs/architecture.md, "Reading PDF and Word")."""

from __future__ import annotations

import glob
import importlib.util
import io
import sys
import zipfile
from pathlib import Path

import docx
import pdfplumber
import pypdf
import pytest
from PIL import Image, ImageDraw, ImageFont

from qa.cleaning import clean_text, normalise_radicals
from qa.indexing import build
from qa.reading import PAGE_BREAK, UnreadableFile, pdf_text, read_source
from qa.settings import PROJECT_ROOT
from qa.storage import _document_from_json, _document_to_json, load_index
from qa.types import Document

_spec = importlib.util.spec_from_file_location("extraction", PROJECT_ROOT / "benchmarks" / "extraction.py")
extraction = sys.modules["extraction"] = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(extraction)

needs_chromium = pytest.mark.skipif(extraction.CHROMIUM is None,
                                    reason="needs chromium and fonts-noto-cjk (scripts/setup.sh --test)")
CJK_FONTS = sorted(glob.glob("/usr/share/fonts/**/NotoSansCJK-Regular.ttc", recursive=True))
REPORT = "001_84905cf744b120d4.txt"  # 56 paragraphs, 8 printed pages
SMALL = "003_70f536fde6f55a41.txt"  # traditional script, 2 printed pages
SECOND_PAGE = 10  # the paragraph printed at the top of page 2 (a page break is forced before it)
RADICALS = "".join(chr(code) for code in (*range(0x2E80, 0x2F00), *range(0x2F00, 0x2FE0)))


def han_recovered(source: str, extracted: str) -> float:
    source_han = extraction.han(source)
    return extraction.matched_in_order(source_han, extraction.han(extracted)) / len(source_han)


def read(path: Path) -> Document:
    source = read_source(path, path.parent)
    return clean_text(path.name, source.text, source.sha256, path.suffix.lower())


@pytest.fixture(scope="module")
def report(seed_documents) -> Document:
    return seed_documents[REPORT]


@pytest.fixture(scope="module")
def report_pdf(report, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("pdf") / "report.pdf"
    return extraction.chromium_pdf(report.text.split("\n"), path, page_breaks_before=(SECOND_PAGE,))


@pytest.fixture(scope="module")
def report_docx(report, tmp_path_factory) -> Path:
    table = [["指标", "2022年", "同比增长"], ["固定资产投资", "1.28亿元", "10.95%"]]
    return extraction.word_docx(report.text.split("\n"), tmp_path_factory.mktemp("docx") / "report.docx", table)


def scanned_pdf(path: Path, text: str) -> Path:
    """A page that is only a picture of Chinese text, as a scanner makes it (Pillow writes the PDF)."""
    page = Image.new("L", (1240, 1754), 255)
    font = ImageFont.truetype(CJK_FONTS[0], 40)
    for row, start in enumerate(range(0, 200, 25)):
        ImageDraw.Draw(page).text((100, 100 + 60 * row), text[start:start + 25], font=font, fill=0)
    page.save(path, "PDF", resolution=150)
    return path


def encrypted_pdf(source: Path, path: Path, password: str) -> Path:
    writer = pypdf.PdfWriter(clone_from=source)
    writer.encrypt(user_password=password, owner_password="owner", algorithm="AES-128")
    writer.write(path)
    return path


def png_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), (200, 30, 30)).save(buffer, "PNG")
    return buffer.getvalue()


@needs_chromium
def test_pdf_text_is_recovered(report, report_pdf) -> None:
    document = read(report_pdf)
    assert han_recovered(report.text, document.text) >= 0.997  # measured 0.9979: 户 prints as 戶 (one glyph)
    found, paragraphs = extraction.paragraphs_recovered(report.search, document.search)
    assert (found, paragraphs) == (56, 56)  # wrapped lines joined back into the source's paragraphs
    assert "全年总收入1.99亿元" in document.text  # no space slipped in between digits and Chinese


@needs_chromium
def test_pdf_radicals_come_out_as_ordinary_characters(report_pdf) -> None:
    raw, _ = pdf_text(report_pdf)
    assert sum(ch in RADICALS for ch in raw) > 500  # Chromium's text layer gives ⼯ for 工, ⺠ for 民 …
    document = read(report_pdf)
    assert not any(ch in RADICALS for ch in document.text)
    assert "政府工作报告" in document.text and "人民代表大会" in document.text and "镇长" in document.text


def test_radicals_are_normalised_one_for_one() -> None:
    document = clean_text("a.txt", "⼯作⽔平⼗⼋⼈，⺠⽣⻓期⻅效")
    assert document.text == "工作水平十八人，民生长期见效"
    assert len(document.search) == len(document.text)
    assert normalise_radicals("⺟⻳⼀") == "母龟一"


@needs_chromium
def test_pdf_page_numbers(report, report_pdf) -> None:
    document = read(report_pdf)
    with pdfplumber.open(report_pdf) as pdf:
        first_lines = [normalise_radicals(page.extract_text_lines()[0]["text"]) for page in pdf.pages]
    assert len(document.pages) == len(first_lines) == 8
    for start, first_line in zip(document.pages, first_lines, strict=True):
        assert document.text[start:].startswith(first_line[:10])
    second_page_heading = report.text.split("\n")[SECOND_PAGE]
    assert document.page_at(document.text.index(second_page_heading)) == 2
    assert document.page_at(document.text.index("现在,我代表伊金霍洛镇人民政府")) == 1
    assert document.page_at(len(document.text) - 1) == 8
    run_on = [start for start in document.pages[1:] if document.text[start - 1] != "\n"]
    assert run_on, "a paragraph running on over a page break stays one paragraph"


def test_page_offsets_index_the_cleaned_text() -> None:
    raw = f"标题\n打印\n第一页的内容。\n{PAGE_BREAK}\n{PAGE_BREAK}第三页开始，接着写{PAGE_BREAK}到第四页。\n末尾。"
    document = clean_text("a.pdf", raw, suffix=".pdf")
    assert document.text == "标题\n第一页的内容。\n第三页开始，接着写到第四页。\n末尾。"
    assert document.pages == [0, 11, 11, 20]  # page 2 has no text; page 4 starts inside a paragraph
    pages = [document.page_at(document.text.index(word)) for word in ("标题", "第一页", "第三页", "到第四页", "末尾")]
    assert pages == [1, 1, 3, 4, 4]
    assert clean_text("a.txt", "没有分页。").pages == [] and clean_text("a.txt", "没有分页。").page_at(0) is None


@needs_chromium
def test_pdf_cap_keeps_the_first_characters(report_pdf) -> None:
    source = read_source(report_pdf, report_pdf.parent, max_chars=2000)
    assert 1800 <= len(source.text) <= 2000 and normalise_radicals(source.text).startswith("政府工作报告")
    assert source.warnings and "only the first" in source.warnings[0]


def test_docx_paragraphs_headings_and_table_rows(report, report_docx) -> None:
    source = read_source(report_docx, report_docx.parent)
    assert source.encoding == "docx" and source.warnings == []
    document = clean_text(report_docx.name, source.text, source.sha256, ".docx")
    lines = document.text.split("\n")
    assert lines[0] == report.text.split("\n")[0] == document.title  # the title heading
    assert "一、2022年工作回顾" in lines  # a level-1 heading is its own paragraph
    assert lines[-2:] == ["| 指标 | 2022年 | 同比增长 |", "| 固定资产投资 | 1.28亿元 | 10.95% |"]
    assert han_recovered(report.text, document.text) == 1.0
    assert extraction.paragraphs_recovered(report.text, document.text) == (56, 56)
    assert document.pages == [] and document.page_at(0) is None


def test_docx_merged_cells_are_given_once(tmp_path) -> None:
    word = docx.Document()
    word.add_paragraph("各村改厕情况如下：")
    table = word.add_table(rows=2, cols=3)
    for cell, value in zip(table.rows[0].cells, ("村", "户数", "完成"), strict=True):
        cell.text = value
    table.cell(1, 0).merge(table.cell(1, 1)).text = "布拉格嘎查 33户"
    table.cell(1, 2).text = "是"
    word.save(tmp_path / "table.docx")
    assert read_source(tmp_path / "table.docx", tmp_path).text.split("\n")[1:] == [
        "| 村 | 户数 | 完成 |", "| 布拉格嘎查 33户 | 是 |"]


@pytest.fixture(scope="module")
def bad_files(report_pdf, report_docx, tmp_path_factory) -> dict[str, tuple[Path, str]]:
    """``name -> (file, reason)`` for every kind of file that cannot be read."""
    folder = tmp_path_factory.mktemp("bad")
    pdf_bytes, docx_bytes = report_pdf.read_bytes(), report_docx.read_bytes()
    not_word = io.BytesIO()
    with zipfile.ZipFile(not_word, "w") as archive:
        archive.writestr("notes.txt", "乡村振兴")
    files = {
        "scanned.pdf": (scanned_pdf(folder / "scanned.pdf", "伊金霍洛镇人民政府工作报告" * 20),
                        "PDF has no text layer (scanned image?); OCR is not supported"),
        "locked.pdf": (encrypted_pdf(report_pdf, folder / "locked.pdf", "secret"),
                       "PDF is encrypted (it needs a password to open)"),
        "picture.pdf": (png_bytes(), "not a valid PDF file"),
        "garbled.pdf": (b"%PDF-1.7\n" + bytes(range(256)) * 8, "PDF is damaged or incomplete"),
        "truncated.pdf": (pdf_bytes[: len(pdf_bytes) // 2], "PDF is damaged or incomplete"),
        "empty.pdf": (b"", "empty file"),
        "empty.docx": (b"", "empty file"),
        "truncated.docx": (docx_bytes[: len(docx_bytes) // 2], "not a valid Word (.docx) file"),
        "archive.docx": (not_word.getvalue(), "not a valid Word (.docx) file"),
        "old.docx": (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(512), "encrypted or in the old .doc format"),
    }
    for name, (content, _) in files.items():
        if isinstance(content, bytes):
            (folder / name).write_bytes(content)
    return {name: (folder / name, reason) for name, (_, reason) in files.items()}


@needs_chromium
@pytest.mark.skipif(not CJK_FONTS, reason="needs fonts-noto-cjk")
def test_unreadable_files_are_refused_with_the_reason(bad_files) -> None:
    for name, (path, reason) in bad_files.items():
        with pytest.raises(UnreadableFile) as problem:
            read_source(path, path.parent)
        assert reason in str(problem.value), name


@needs_chromium
def test_a_pdf_encrypted_without_a_user_password_is_read(report, report_pdf, tmp_path) -> None:
    """Permission-only encryption (printing, copying) needs no password to read."""
    locked = encrypted_pdf(report_pdf, tmp_path / "restricted.pdf", "")
    assert read(locked).text == read(report_pdf).text


def test_documents_store_their_pages_and_old_rows_still_load() -> None:
    document = clean_text("a.pdf", f"第一页。{PAGE_BREAK}第二页。", suffix=".pdf")
    row = _document_to_json(document)
    assert row["pages"] == [0, 4] and _document_from_json(row) == document
    del row["pages"]
    assert _document_from_json(row).pages == []


def quiet(_: str) -> None:
    pass


@needs_chromium
@pytest.mark.skipif(not CJK_FONTS, reason="needs fonts-noto-cjk")
def test_a_build_reads_pdf_and_word_files_and_lists_the_bad_ones(seed_documents, bad_files, settings, embedder,
                                                                tmp_path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    small = seed_documents[SMALL].text.split("\n")
    extraction.chromium_pdf(small, corpus / "small.pdf")
    extraction.word_docx(small, corpus / "small.docx")
    for name, (path, _) in bad_files.items():
        (corpus / name).write_bytes(path.read_bytes())
    index_dir = tmp_path / "index"
    report = build(settings, corpus, index_dir, embedder=embedder, progress=False, log=quiet)
    assert report.files == 2 and report.chunks > 0
    skipped = dict(report.skipped)
    assert set(skipped) == set(bad_files)
    for name, (_, reason) in bad_files.items():
        assert reason in skipped[name], name
    stored = load_index(index_dir, settings)
    assert stored.documents["small.pdf"] == read(corpus / "small.pdf")
    assert len(stored.documents["small.pdf"].pages) == 2 and stored.documents["small.docx"].pages == []
    assert build(settings, corpus, index_dir, embedder=embedder, progress=False, log=quiet).up_to_date
