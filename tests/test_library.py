"""qa.library: safe names, limits and the duplicate check on their own; then adding and removing documents in a
temporary copy of the seeds and their index (the committed ones are never touched), with the real model: an
uploaded Word file is answered from, unreadable and hostile uploads are refused and leave nothing behind, a
removed document goes to the trash, questions asked during an update are answered by the old engine, and
concurrent updates both land."""

from __future__ import annotations

import shutil
import threading
import unicodedata
from pathlib import Path

import pytest
from conftest import write_docx

from qa import load
from qa.library import (
    MAX_NAME_BYTES,
    Library,
    Limits,
    Refused,
    UpdateFailed,
    Upload,
    check_count,
    check_new_content,
    check_size,
    free_name,
    reading_reason,
    safe_name,
)
from qa.settings import PROJECT_ROOT
from qa.storage import load_index

SEEDS = PROJECT_ROOT / "seeds"
QUESTION = "伊金霍洛镇2022年全年总收入是多少？"
SEED = "001_84905cf744b120d4.txt"
LIMITS = Limits(max_bytes=1024 * 1024, max_files=4)
# A town and figures that are in no seed report.
TOWN_REPORT = ["青石湾镇2023年政府工作报告",
               "各位代表：现在，我代表青石湾镇人民政府向大会报告工作，请予审议。",
               "过去一年，青石湾镇坚持农业强镇。全镇新建智慧温室大棚137座，带动农户增收2300万元。",
               "全年接待游客4.6万人次，旅游综合收入达到5100万元。"]
TOWN_QUESTION = "青石湾镇新建智慧温室大棚多少座？"
TOWN_ANSWER = "137座"


def corpus_names(library: Library) -> list[str]:
    return sorted(path.name for path in library.corpus_dir.iterdir())


# ---------------------------------------------------------------------------------------------- names


@pytest.mark.parametrize("name", ["2023年青石湾镇政府工作报告.pdf", "報告（修訂稿）.docx", "report v2.md", "a.HTM"])
def test_a_plain_name_is_kept_as_it_is(name: str) -> None:
    assert safe_name(name) == name


def test_a_name_is_normalised_and_its_directory_dropped() -> None:
    decomposed = unicodedata.normalize("NFD", "café 报告.txt")
    assert decomposed != "café 报告.txt"
    assert safe_name(decomposed) == "café 报告.txt"
    assert safe_name("附件/2023年报告.docx") == "2023年报告.docx"
    assert safe_name("  报告.txt  ") == "报告.txt"
    assert safe_name('a<b>:c?|"d*.txt') == "a_b__c___d_.txt"


@pytest.mark.parametrize(("name", "reason"), [
    ("../x.txt", "路径"),
    ("..\\..\\evil.txt", "路径"),
    ("/etc/passwd", "路径"),
    ("/tmp/report.txt", "路径"),
    ("C:\\Windows\\report.txt", "路径"),
    ("a/../../b.txt", "路径"),
    ("a\x00b.txt", "控制字符"),
    ("a\nb.txt", "控制字符"),
    ("report\u202etxt.exe", "控制字符"),  # a right-to-left override that disguises the suffix
    (".hidden.txt", "“.”开头"),
    ("....evil.txt", "“.”开头"),
    ("..", "路径"),
    ("", "为空"),
    ("  ", "为空"),
    (" .txt", "“.”开头"),
    ("setup.exe", "不支持的文件类型“.exe”"),
    ("README", "不支持的文件类型“README”"),
    ("report.doc", "不支持的文件类型“.doc”"),
])
def test_a_hostile_or_unsupported_name_is_refused(name: str, reason: str) -> None:
    with pytest.raises(Refused, match=reason):
        safe_name(name)


def test_a_long_name_is_shortened_keeping_its_suffix() -> None:
    name = safe_name("长" * 200 + ".pdf")
    assert len(name.encode("utf-8")) <= MAX_NAME_BYTES
    assert name.endswith(".pdf") and name == "长" * len(name[:-4]) + ".pdf" and len(name) > 60


def test_a_name_clash_gives_the_next_free_name(tmp_path: Path) -> None:
    assert free_name(tmp_path, "报告.txt") == "报告.txt"
    (tmp_path / "报告.txt").write_text("a", encoding="utf-8")
    (tmp_path / "报告-2.txt").write_text("b", encoding="utf-8")
    assert free_name(tmp_path, "报告.txt") == "报告-3.txt"


# ---------------------------------------------------------------------------------------------- limits


def test_empty_and_oversized_files_are_refused(tmp_path: Path) -> None:
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    with pytest.raises(Refused, match="空文件"):
        check_size(Upload(empty, "empty.txt"), LIMITS)
    big = tmp_path / "big.txt"
    big.write_bytes(b"x" * (LIMITS.max_bytes + 1))
    with pytest.raises(Refused, match=r"文件太大（1\.0 MB，上限 1 MB）"):
        check_size(Upload(big, "big.txt"), LIMITS)
    fits = tmp_path / "fits.txt"
    fits.write_bytes(b"x" * LIMITS.max_bytes)
    check_size(Upload(fits, "fits.txt"), LIMITS)
    with pytest.raises(Refused, match="无法读取"):
        check_size(Upload(tmp_path / "gone.txt", "gone.txt"), LIMITS)


def test_too_many_files_are_refused() -> None:
    check_count([Upload(Path("a.txt"), "a.txt")] * LIMITS.max_files, LIMITS)
    with pytest.raises(Refused, match="一次最多添加 4 个文件（这次选了 5 个）"):
        check_count([Upload(Path("a.txt"), "a.txt")] * (LIMITS.max_files + 1), LIMITS)


def test_known_content_is_refused_naming_the_document() -> None:
    check_new_content("b" * 64, {"a" * 64: "报告.pdf"})
    with pytest.raises(Refused, match="已存在相同内容的文档：报告.pdf"):
        check_new_content("a" * 64, {"a" * 64: "报告.pdf"})


def test_reading_reasons_are_said_in_chinese_with_the_original() -> None:
    assert reading_reason("not a valid PDF file") == "文件无法读取：不是有效的 PDF 文件（not a valid PDF file）"
    assert "扫描件" in reading_reason("PDF has no text layer (scanned image?); OCR is not supported")
    assert reading_reason("something new") == "文件无法读取：something new"


def test_the_default_limits_come_from_the_settings(settings) -> None:
    limits = Limits.of(settings.with_(upload_max_mb=3, upload_max_files=7))
    assert limits == Limits(3 * 1024 * 1024, 7)
    assert Limits.of(settings) == Limits(50 * 1024 * 1024, 20)


# ---------------------------------------------------------------------------------------------- updates


@pytest.fixture
def library(tmp_path: Path, settings, embedder) -> Library:
    """A library over a temporary copy of the seeds and their committed index."""
    corpus, index = tmp_path / "corpus", tmp_path / "index"
    shutil.copytree(SEEDS, corpus)
    shutil.copytree(settings.index_dir, index, ignore=shutil.ignore_patterns(".*"))
    local = settings.with_(corpus_dir=corpus, index_dir=index)
    return Library(load(index, local, embedder=embedder), limits=LIMITS)


@pytest.fixture
def town_docx(tmp_path: Path) -> Path:
    return write_docx(tmp_path / "upload.docx", TOWN_REPORT)


@pytest.mark.slow
def test_an_uploaded_word_file_is_indexed_and_answered_from(library: Library, town_docx: Path) -> None:
    seeds = sorted(library.engine.documents)
    steps = []
    change = library.add([Upload(town_docx, "青石湾镇报告.docx")], lambda fraction, step: steps.append(step))
    assert change.added == ["青石湾镇报告.docx"] and change.refused == []
    assert steps[0] == "检查文件" and steps[-1] == "加载新索引"
    assert sorted(library.engine.documents) == sorted([*seeds, "青石湾镇报告.docx"])
    assert (library.corpus_dir / "青石湾镇报告.docx").read_bytes() == town_docx.read_bytes()
    assert "青石湾镇报告.docx" in load_index(library.index_dir).documents  # the index on disk has it too
    answer = library.engine.answer(TOWN_QUESTION)
    assert (answer.found, answer.text, answer.source) == (True, TOWN_ANSWER, "青石湾镇报告.docx")
    assert "1.99亿元" in library.engine.answer(QUESTION).text  # the seeds are answered as before


@pytest.mark.slow
def test_the_same_content_under_another_name_is_refused(library: Library, town_docx: Path, tmp_path: Path) -> None:
    library.add([Upload(town_docx, "青石湾镇报告.docx")])
    engine = library.engine
    copy = tmp_path / "copy.txt"
    shutil.copyfile(SEEDS / SEED, copy)
    change = library.add([Upload(town_docx, "又一份.docx"), Upload(copy, "副本.txt")])
    assert change.added == []
    assert change.refused == [("又一份.docx", "已存在相同内容的文档：青石湾镇报告.docx"),
                              ("副本.txt", f"已存在相同内容的文档：{SEED}")]
    assert library.engine is engine  # nothing changed, nothing reloaded
    assert "又一份.docx" not in corpus_names(library) and "副本.txt" not in corpus_names(library)


@pytest.mark.slow
def test_unreadable_and_hostile_uploads_are_refused_and_leave_nothing(library: Library, town_docx: Path,
                                                                       tmp_path: Path) -> None:
    before = corpus_names(library)
    binary = tmp_path / "binary.pdf"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40)
    empty = tmp_path / "empty.docx"
    empty.write_bytes(b"")
    not_word = tmp_path / "not_word.docx"
    not_word.write_bytes("这不是Word文件".encode())
    change = library.add([Upload(binary, "报告.pdf"), Upload(empty, "空.docx"), Upload(town_docx, "../../逃出.docx"),
                          Upload(not_word, "假的.docx")])
    refused = dict(change.refused)
    assert change.added == []
    assert refused["报告.pdf"].startswith("文件无法读取：不是有效的 PDF 文件")
    assert refused["空.docx"] == "空文件（0 字节）"
    assert "路径" in refused["../../逃出.docx"]
    assert refused["假的.docx"].startswith("文件无法读取：不是有效的 Word (.docx) 文件")
    assert corpus_names(library) == before
    assert not (tmp_path / "逃出.docx").exists()
    manifest = load_index(library.index_dir).manifest
    assert sorted(manifest["files"]) == before and manifest["skipped"] == []  # the index forgot them too


@pytest.mark.slow
def test_good_files_are_added_beside_refused_ones_and_a_clash_gets_a_new_name(library: Library, tmp_path: Path) -> None:
    other = tmp_path / "other.txt"
    other.write_text("青石湾镇2023年政府工作报告\n" + TOWN_REPORT[2], encoding="utf-8")
    binary = tmp_path / "binary.pdf"
    binary.write_bytes(bytes(range(256)) * 8)
    change = library.add([Upload(binary, "坏.pdf"), Upload(other, SEED)])
    assert change.added == ["001_84905cf744b120d4-2.txt"]
    assert [name for name, _ in change.refused] == ["坏.pdf"]
    assert (library.corpus_dir / SEED).read_bytes() == (SEEDS / SEED).read_bytes()  # the seed is untouched
    assert "001_84905cf744b120d4-2.txt" in library.engine.documents


@pytest.mark.slow
def test_too_many_files_add_nothing(library: Library, town_docx: Path) -> None:
    before, engine = corpus_names(library), library.engine
    with pytest.raises(Refused, match="一次最多添加"):
        library.add([Upload(town_docx, f"{number}.docx") for number in range(LIMITS.max_files + 1)])
    assert corpus_names(library) == before and library.engine is engine


@pytest.mark.slow
def test_a_removed_document_goes_to_the_trash_and_out_of_the_index(library: Library) -> None:
    change = library.remove(SEED)
    assert change.removed == [SEED]
    assert SEED not in library.engine.documents and len(library.engine.documents) == 4
    assert SEED not in corpus_names(library)
    assert (library.trash_dir / SEED).read_bytes() == (SEEDS / SEED).read_bytes()
    assert library.trash_dir.parent == library.corpus_dir.parent
    assert SEED not in load_index(library.index_dir).documents
    assert library.engine.answer(QUESTION).source != SEED


@pytest.mark.slow
def test_removing_an_unknown_document_is_refused(library: Library) -> None:
    before = corpus_names(library)
    for name in ("没有这份.txt", "../seeds/" + SEED, "/etc/passwd"):
        with pytest.raises(Refused, match="索引中没有这份文档"):
            library.remove(name)
    assert corpus_names(library) == before and not library.trash_dir.exists()


@pytest.mark.slow
def test_the_last_document_cannot_be_removed(library: Library) -> None:
    for source in sorted(library.engine.documents)[1:]:
        library.remove(source)
    last = next(iter(library.engine.documents))
    with pytest.raises(Refused, match="最后一份文档"):
        library.remove(last)
    assert corpus_names(library) == [last]


@pytest.mark.slow
def test_a_failed_update_puts_the_corpus_back(library: Library, town_docx: Path, monkeypatch) -> None:
    before, engine = corpus_names(library), library.engine

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("qa.library.build", full_disk)
    with pytest.raises(UpdateFailed, match="No space left on device"):
        library.add([Upload(town_docx, "青石湾镇报告.docx")])
    assert corpus_names(library) == before and library.engine is engine
    with pytest.raises(UpdateFailed, match="已放回"):
        library.remove(SEED)
    assert corpus_names(library) == before and not list(library.trash_dir.iterdir())


@pytest.mark.slow
def test_questions_during_an_update_are_answered_by_the_old_engine(library: Library, town_docx: Path) -> None:
    old = library.engine
    during: list = []

    def ask_meanwhile(fraction: float, step: str) -> None:
        if step == "加载新索引":  # the new index is built, the engine not yet swapped: a question from elsewhere
            asker = threading.Thread(target=lambda: during.append((library.engine, library.engine.answer(QUESTION))))
            asker.start()
            asker.join()

    library.add([Upload(town_docx, "青石湾镇报告.docx")], ask_meanwhile)
    [(engine, answer)] = during
    assert engine is old and "1.99亿元" in answer.text
    assert library.engine is not old and "青石湾镇报告.docx" in library.engine.documents


@pytest.mark.slow
def test_concurrent_uploads_both_land(library: Library, town_docx: Path, tmp_path: Path) -> None:
    other = write_docx(tmp_path / "other.docx",
                       ["白沙河村2023年工作总结", "白沙河村全年新修村道12公里，安装路灯86盏。"])
    start = threading.Barrier(2)
    changes = []

    def upload(path: Path, name: str) -> None:
        start.wait()
        changes.append(library.add([Upload(path, name)]))

    threads = [threading.Thread(target=upload, args=(town_docx, "青石湾镇报告.docx")),
               threading.Thread(target=upload, args=(other, "白沙河村总结.docx"))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(name for change in changes for name in change.added) == ["白沙河村总结.docx", "青石湾镇报告.docx"]
    for documents in (library.engine.documents, load_index(library.index_dir).documents):
        assert {"白沙河村总结.docx", "青石湾镇报告.docx"} <= set(documents) and len(documents) == 7
