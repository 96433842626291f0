"""How much of a report's text comes back out of PDF and Word files: ``python benchmarks/extraction.py``.

Each seed report (cleaned, ``seeds/*.txt``) is written by real writers with a CJK font: Chromium prints it
to PDF from HTML (Noto Sans CJK SC and Noto Serif CJK SC, from Debian's fonts-noto-cjk), python-docx
writes it as a Word file and LibreOffice, when installed, exports that to PDF. Then:

* **libraries** — pypdf and pdfplumber on every PDF: the share of the source's Han characters recovered in
  order (difflib on Han-only strings) as extracted and after radical normalisation (⼯ → 工), the share of
  all visible characters, the share of sentences recovered verbatim (line breaks removed: a space slipped
  into "2023 年" or a quote moved breaks a sentence), and seconds per page;
* **pipeline** — ``qa.reading.read_source`` + ``qa.cleaning.clean_text`` on every PDF and Word file: Han
  characters and paragraphs recovered (a source paragraph is recovered when it is a paragraph of the
  document, exactly; and in the search form, where 戶 and 户 are one), and for PDFs the share of
  paragraphs whose ``page_at`` is the page on which pypdf, reading independently, finds the paragraph's
  opening.

The fixture writers here are also used by ``tests/test_documents.py``.
"""

from __future__ import annotations

import argparse
import difflib
import html
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import docx
import pdfplumber
import pypdf

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from qa.cleaning import clean_text, normalise_radicals  # noqa: E402
from qa.reading import read_source  # noqa: E402
from qa.types import Document  # noqa: E402

SEEDS = Path(__file__).resolve().parent.parent / "seeds"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
LIBREOFFICE = shutil.which("soffice")
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f]")
_SENTENCE = re.compile(r"[^。！？；!?;]+[。！？；!?;]?")
_WRITER_TIMEOUT = 180


def seed_documents() -> dict[str, Document]:
    """Every seed report, cleaned: the source texts of the fixtures."""
    documents = {}
    for path in sorted(SEEDS.glob("*.txt")):
        source = read_source(path, SEEDS)
        documents[path.name] = clean_text(path.name, source.text, source.sha256, path.suffix)
    return documents


def chromium_pdf(paragraphs: Sequence[str], path: Path, font: str = "Noto Sans CJK SC",
                 page_breaks_before: Sequence[int] = ()) -> Path:
    """Print ``paragraphs`` to a PDF with headless Chromium (Letter, no header or footer); a page break
    is forced before the paragraphs numbered (0-based) in ``page_breaks_before``."""
    if CHROMIUM is None:
        raise RuntimeError("chromium is not installed (scripts/setup.sh --test installs it)")
    page_break = ' style="break-before: page"'
    body = "".join(f"<p{page_break if index in page_breaks_before else ''}>{html.escape(text)}</p>"
                   for index, text in enumerate(paragraphs))
    page = (f'<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><style>body {{ font-family: "{font}"; '
            f'font-size: 12pt }}</style></head><body>{body}</body></html>')
    with tempfile.TemporaryDirectory(prefix="qa-pdf-") as work:
        source = Path(work) / "page.html"
        source.write_text(page, encoding="utf-8")
        subprocess.run(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-pdf-header-footer",
             f"--user-data-dir={work}/profile", f"--print-to-pdf={path}", source.as_uri()],
            check=True, capture_output=True, timeout=_WRITER_TIMEOUT,
        )
    return path


def word_docx(paragraphs: Sequence[str], path: Path, table: Sequence[Sequence[str]] = ()) -> Path:
    """Write ``paragraphs`` with python-docx: the first as a title heading, lines of up to 30 characters
    without a sentence end as level-1 headings, the rest as body paragraphs; ``table`` rows at the end."""
    document = docx.Document()
    for index, text in enumerate(paragraphs):
        if index == 0:
            document.add_heading(text, level=0)
        elif len(text) <= 30 and not text.endswith(("。", "；", "：", ":")):
            document.add_heading(text, level=1)
        else:
            document.add_paragraph(text)
    if table:
        grid = document.add_table(rows=len(table), cols=len(table[0]))
        for row, values in zip(grid.rows, table, strict=True):
            for cell, value in zip(row.cells, values, strict=True):
                cell.text = value
    document.save(str(path))
    return path


def libreoffice_pdf(word_file: Path, out_dir: Path) -> Path:
    """Export a Word file to PDF with LibreOffice (headless)."""
    if LIBREOFFICE is None:
        raise RuntimeError("LibreOffice is not installed")
    with tempfile.TemporaryDirectory(prefix="qa-lo-") as profile:
        subprocess.run(
            [LIBREOFFICE, f"-env:UserInstallation={Path(profile).as_uri()}", "--headless", "--convert-to", "pdf",
             "--outdir", str(out_dir), str(word_file)],
            check=True, capture_output=True, timeout=_WRITER_TIMEOUT,
        )
    return out_dir / f"{word_file.stem}.pdf"


@dataclass
class Share:
    """A share summed over fixtures: what was recovered, out of how much."""

    got: float = 0.0
    of: float = 0.0

    def add(self, got: float, of: float) -> None:
        self.got += got
        self.of += of

    def __format__(self, spec: str) -> str:
        return format(self.got / self.of, spec or ".4f") if self.of else "—"


def han(text: str) -> str:
    return "".join(_HAN.findall(text))


def visible(text: str) -> str:
    return "".join(text.split())


def matched_in_order(source: str, extracted: str) -> int:
    """How many of ``source``'s characters are found in ``extracted`` in the same order (difflib)."""
    matcher = difflib.SequenceMatcher(None, source, extracted, autojunk=False)
    return sum(block.size for block in matcher.get_matching_blocks())


def sentences_verbatim(source: Document, extracted: str) -> tuple[int, int]:
    """``(found, sentences)``: the source's sentences found verbatim in ``extracted`` once its line breaks
    are removed (PDF lines wrap inside sentences)."""
    unwrapped = extracted.replace("\n", "")
    sentences = [s.strip() for line in source.text.split("\n") for s in _SENTENCE.findall(line) if s.strip()]
    return sum(sentence in unwrapped for sentence in sentences), len(sentences)


def paragraphs_recovered(source: str, document: str) -> tuple[int, int]:
    """``(found, paragraphs)``: the paragraphs (lines) of ``source`` that are exactly a line of ``document``."""
    wanted = source.split("\n")
    got = set(document.split("\n"))
    return sum(paragraph in got for paragraph in wanted), len(wanted)


def pages_right(document: Document, pypdf_pages: list[str]) -> tuple[int, int]:
    """``(right, checked)``: paragraphs whose ``page_at`` is the one page on which pypdf finds the
    paragraph's opening (12 visible characters; openings found on no page or on several are not checked)."""
    pages = [visible(normalise_radicals(text)) for text in pypdf_pages]
    right = checked = 0
    for start, end in document.paragraphs:
        opening = visible(document.text[start:end])[:12]
        holding = [number for number, text in enumerate(pages, 1) if opening in text]
        if len(opening) == 12 and len(holding) == 1:
            checked += 1
            right += document.page_at(start) == holding[0]
    return right, checked


def library_pages(path: Path) -> dict[str, tuple[list[str], float]]:
    """Each library's page texts of a PDF (plain ``extract_text``) and the seconds it took."""
    started = time.perf_counter()
    pypdf_pages = [page.extract_text() or "" for page in pypdf.PdfReader(path).pages]
    pypdf_seconds = time.perf_counter() - started
    started = time.perf_counter()
    with pdfplumber.open(path) as pdf:
        plumber_pages = [page.extract_text() or "" for page in pdf.pages]
    return {"pypdf": (pypdf_pages, pypdf_seconds), "pdfplumber": (plumber_pages, time.perf_counter() - started)}


def make_fixtures(sources: dict[str, Document], work: Path) -> list[tuple[str, str, Path]]:
    """``(writer, seed, file)`` for every writer that is installed."""
    fixtures = []
    for name, source in sources.items():
        lines, stem = source.text.split("\n"), Path(name).stem
        if CHROMIUM is not None:
            fixtures.append(("Chromium, Noto Sans CJK", name, chromium_pdf(lines, work / f"{stem}.sans.pdf")))
            fixtures.append(("Chromium, Noto Serif CJK", name,
                             chromium_pdf(lines, work / f"{stem}.serif.pdf", "Noto Serif CJK SC")))
        word_file = word_docx(lines, work / f"{stem}.docx")
        fixtures.append(("python-docx", name, word_file))
        if LIBREOFFICE is not None:
            fixtures.append(("LibreOffice (from the .docx)", name, libreoffice_pdf(word_file, work)))
    return fixtures


LIBRARY_MEASURES = ("Han chars, as extracted", "Han chars, radicals normalised", "visible chars",
                    "sentences verbatim", "s/page")
PIPELINE_MEASURES = ("Han chars", "paragraphs exact", "paragraphs exact in search form", "page_at right")


def measure(fixtures: list[tuple[str, str, Path]], sources: dict[str, Document]
            ) -> tuple[dict[tuple[str, str], list[Share]], dict[str, list[Share]]]:
    """Per writer and library, the ``LIBRARY_MEASURES``; per writer, the ``PIPELINE_MEASURES``."""
    libraries: dict[tuple[str, str], list[Share]] = {}
    pipeline: dict[str, list[Share]] = {}
    for writer, name, path in fixtures:
        source = sources[name]
        source_han, source_visible = han(source.text), visible(source.text)
        document = clean_text(path.name, read_source(path, path.parent).text, suffix=path.suffix)
        figures = pipeline.setdefault(writer, [Share() for _ in PIPELINE_MEASURES])
        figures[0].add(matched_in_order(source_han, han(document.text)), len(source_han))
        figures[1].add(*paragraphs_recovered(source.text, document.text))
        figures[2].add(*paragraphs_recovered(source.search, document.search))
        if path.suffix != ".pdf":
            continue
        extracted = library_pages(path)
        figures[3].add(*pages_right(document, extracted["pypdf"][0]))
        for library, (pages, seconds) in extracted.items():
            raw = "\n".join(pages)
            normalised = normalise_radicals(raw)
            row = libraries.setdefault((writer, library), [Share() for _ in LIBRARY_MEASURES])
            row[0].add(matched_in_order(source_han, han(raw)), len(source_han))
            row[1].add(matched_in_order(source_han, han(normalised)), len(source_han))
            row[2].add(matched_in_order(source_visible, visible(normalised)), len(source_visible))
            row[3].add(*sentences_verbatim(source, normalised))
            row[4].add(seconds, len(pages))
    return libraries, pipeline


def report(libraries: dict[tuple[str, str], list[Share]], pipeline: dict[str, list[Share]], seeds: int) -> str:
    """The figures as two Markdown tables."""
    lines = [f"PDF text layer of {seeds} seed reports per writer, plain extract_text (share of the source):", "",
             "| writer | library | " + " | ".join(LIBRARY_MEASURES) + " |",
             "| --- | --- |" + " --- |" * len(LIBRARY_MEASURES)]
    lines += [f"| {writer} | {library} | " + " | ".join(format(share) for share in row[:-1]) + f" | {row[-1]:.3f} |"
              for (writer, library), row in libraries.items()]
    lines += ["", "qa.reading + qa.cleaning (pdfplumber with line joining for PDF, python-docx for Word):", "",
              "| writer | " + " | ".join(PIPELINE_MEASURES) + " |", "| --- |" + " --- |" * len(PIPELINE_MEASURES)]
    lines += [f"| {writer} | " + " | ".join(f"{share.got:.0f}/{share.of:.0f}" if index == 3 and share.of else
                                            format(share) for index, share in enumerate(row)) + " |"
              for writer, row in pipeline.items()]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=5, help="how many seed reports to use (default: all 5)")
    args = parser.parse_args()
    sources = dict(list(seed_documents().items())[: args.seeds])
    with tempfile.TemporaryDirectory(prefix="qa-extraction-") as work:
        fixtures = make_fixtures(sources, Path(work))
        libraries, pipeline = measure(fixtures, sources)
    print(report(libraries, pipeline, len(sources)))


if __name__ == "__main__":
    main()
