"""Robustness: bad files, broken indexes, killed builds, bad questions, concurrent users.

Everything is real: the real model (the ``embedder`` fixture), real FAISS indexes built in temporary folders,
real ``python -m qa`` subprocesses killed with a real SIGKILL. Two stand-ins, each said where it is used:
an unreadable file when the tests run as root (root reads a ``chmod 000`` file), and an 8-dimensional
embedder standing for "another model" (the only model available offline is the default one).
"""

from __future__ import annotations

import errno
import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

import qa
import qa.reading
from qa.indexing import EmptyCorpus, build, stale_reason
from qa.reading import read_source
from qa.retrieval import load
from qa.settings import PROJECT_ROOT, Settings
from qa.storage import IndexProblem, _manifest_checksum, load_index, read_manifest

pytest_plugins = ["app_process"]

SEEDS = PROJECT_ROOT / "seeds"
SEED = "003_70f536fde6f55a41.txt"  # the shortest seed report
QUESTION = "伊金霍洛镇2022年全年总收入是多少？"
TRADITIONAL = ("伊金霍洛鎮2022年全年總收入1.99億元，其中一般公共預算撥款1.85億元。"
               "鄉村振興工作穩步推進，農牧民收入持續增長，嘎查村集體經濟不斷壯大。\n")
SMALL_LIMIT = 5_000  # max_file_chars for the tests: the 20 MB file then costs ~20 chunks, not ~40 000
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}


def quiet(message: str) -> None:
    """A build log that is not printed."""


def seed_text(max_chars: int = 1200) -> str:
    """The start of a seed report, cut at a line end (a few chunks: the builds below stay fast); its
    no-break spaces, which GBK lacks, made plain."""
    text = (SEEDS / SEED).read_text(encoding="utf-8").replace("\xa0", " ")
    return text[: text.rfind("\n", 0, max_chars) + 1]


def run_qa(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "qa", *args], cwd=PROJECT_ROOT, env=ENV, capture_output=True,
                          text=True, timeout=timeout)


def copy_index(target: Path, source: Path | None = None) -> Path:
    """A copy of an index folder (default: the committed one), data files and manifest only."""
    source = source or Settings().index_dir
    target.mkdir(parents=True)
    for path in source.iterdir():
        if path.is_file() and not path.name.startswith("."):
            shutil.copy2(path, target / path.name)
    return target


def answers(engine, questions: list[str]) -> list[dict]:
    return [engine.answer(question).to_dict() for question in questions]


# ------------------------------------------------------------------------------------------- bad documents


@pytest.fixture(scope="module")
def messy(tmp_path_factory, settings, embedder):
    """One real build of a folder holding every kind of bad file, next to good ones in five encodings."""
    corpus = tmp_path_factory.mktemp("messy")
    text = seed_text()
    (corpus / "encodings").mkdir()
    (corpus / "encodings" / "utf8.txt").write_bytes(text.encode("utf-8"))
    (corpus / "encodings" / "gbk.txt").write_bytes(text.encode("gbk"))
    (corpus / "encodings" / "utf8_bom.txt").write_bytes(text.encode("utf-8-sig"))
    (corpus / "encodings" / "utf16_bom.txt").write_bytes(text.encode("utf-16"))  # BOM + little-endian
    (corpus / "encodings" / "utf16be.txt").write_bytes(text.encode("utf-16-be"))  # no BOM
    (corpus / "encodings" / "big5.txt").write_bytes(TRADITIONAL.encode("big5"))
    good = text.encode("utf-8")
    (corpus / "invalid_bytes.txt").write_bytes(good[:300] + b"\xff\xfe" + good[300:])
    (corpus / "empty.txt").write_bytes(b"")
    (corpus / "blank.md").write_bytes(b" \n\t\r\n   \n")
    png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 40
    (corpus / "picture.txt").write_bytes(png)
    (corpus / "picture.png").write_bytes(png)
    (corpus / "report.docx").write_bytes(b"PK\x03\x04" + bytes(200))
    (corpus / "table.csv").write_text("年份,收入\n2022,1.99\n", encoding="utf-8")
    (corpus / "README").write_text("no extension", encoding="utf-8")
    line = "伊金霍洛镇召开第四届人民代表大会第三次会议，审议政府工作报告，部署二〇二三年重点工作任务。\n"
    with open(corpus / "huge.txt", "wb") as handle:  # 20 MB of text
        block = (line * 1000).encode("utf-8")
        for _ in range(20 * 2**20 // len(block) + 1):
            handle.write(block)
    nested = corpus / "sub" / "deeper"
    nested.mkdir(parents=True)
    (nested / "nested.md").write_text("# 嘎查村集体经济\n\n" + text, encoding="utf-8")
    page = f"<html><head><title>乡镇报告</title></head><body><p>{text}</p></body></html>"
    (nested / "nested.html").write_text(page, encoding="utf-8")
    (corpus / "dangling.txt").symlink_to(corpus / "no-such-file.txt")  # unreadable, even for root
    (corpus / "outside.txt").symlink_to("/etc/hostname")
    os.mkfifo(corpus / "pipe.txt")  # reading it would block for ever
    (corpus / "folder.txt").mkdir()
    with open(os.path.join(os.fsencode(corpus), "中文".encode("gbk") + b".txt"), "wb") as handle:
        handle.write(good)  # a GBK file name, as unzip leaves them: not valid UTF-8
    (corpus / ".hidden.txt").write_text(text, encoding="utf-8")

    index = tmp_path_factory.mktemp("messy-index")
    limited = settings.with_(max_file_chars=SMALL_LIMIT)
    logged: list[str] = []
    started = time.perf_counter()
    report = build(limited, corpus, index, embedder=embedder, progress=False, log=logged.append)
    seconds = time.perf_counter() - started
    stored = load_index(index, settings)
    again = build(limited, corpus, index, embedder=embedder, progress=False, log=logged.append)
    return {"corpus": corpus, "index": index, "report": report, "seconds": seconds, "stored": stored,
            "again": again, "text": text}


def test_the_build_finishes_and_indexes_every_good_file(messy):
    report, stored = messy["report"], messy["stored"]
    indexed = {"encodings/utf8.txt", "encodings/gbk.txt", "encodings/utf8_bom.txt", "encodings/utf16_bom.txt",
               "encodings/utf16be.txt", "encodings/big5.txt", "invalid_bytes.txt", "huge.txt",
               "sub/deeper/nested.md", "sub/deeper/nested.html"}
    assert set(stored.documents) == indexed
    assert report.files == len(indexed) and report.chunks == len(stored.chunks) == report.embedded
    assert all(stored.manifest["files"][source]["chunks"] >= 1 for source in indexed)


def test_every_encoding_decodes_to_the_same_text(messy):
    documents = messy["stored"].documents
    reference = documents["encodings/utf8.txt"]
    for name in ("gbk", "utf8_bom", "utf16_bom", "utf16be"):
        assert documents[f"encodings/{name}.txt"].text == reference.text, name
    assert reference.text.startswith("內蒙古阿拉善高新區")
    big5 = read_source(messy["corpus"] / "encodings" / "big5.txt", messy["corpus"])
    assert (big5.text, big5.encoding, big5.warnings) == (TRADITIONAL, "big5", [])
    assert "伊金霍洛鎮" in documents["encodings/big5.txt"].text


def test_every_bad_file_is_listed_with_its_reason(messy):
    skipped = dict(messy["report"].skipped)
    expected = {
        "empty.txt": "empty file",
        "blank.md": "empty file",
        "picture.txt": "binary data",
        "picture.png": "unsupported file type '.png'",
        "report.docx": "not a valid Word (.docx) file",
        "table.csv": "unsupported file type '.csv'",
        "README": "unsupported file type 'README'",
        "dangling.txt": "cannot be read (No such file or directory)",
        "outside.txt": "link to a file outside the corpus folder",
        "pipe.txt": "not a regular file",
        "\ufffd\ufffd\ufffd\ufffd.txt": "file name is not valid UTF-8",
    }
    for source, reason in expected.items():
        assert reason in skipped.get(source, ""), (source, skipped.get(source))
    assert set(skipped) == set(expected)  # nothing else skipped; hidden files and folders are not files
    assert ".hidden.txt" not in messy["stored"].documents
    summary = messy["report"].summary()
    assert "skipped pipe.txt: not a regular file" in summary and "11 skipped" in summary


def test_invalid_bytes_are_replaced_with_a_warning(messy):
    warnings = dict(messy["report"].warnings)
    assert warnings["invalid_bytes.txt"] == "2 invalid byte(s) replaced (read as utf-8)"
    document = messy["stored"].documents["invalid_bytes.txt"]
    assert "\ufffd" in document.text and "阿拉善" in document.text


def test_a_20_mb_file_is_cut_to_the_limit_with_a_warning(messy):
    """Policy: at most ``max_file_chars`` characters per file are read, decoded, cleaned and embedded (only
    ~4 bytes per character are read; the hash still covers the whole file). Measured without it: 20 MB of
    Chinese is ~7 M characters, ~30 000 chunks, ~1.7 hours of embedding at ~5 chunks/s on 2 cores."""
    assert (messy["corpus"] / "huge.txt").stat().st_size >= 20 * 2**20
    size = (messy["corpus"] / "huge.txt").stat().st_size
    warning = dict(messy["report"].warnings)["huge.txt"]
    assert warning.startswith(f"{size / 1e6:.1f} MB: only the first ")
    assert warning.endswith(f"characters are indexed (limit max_file_chars = {SMALL_LIMIT:,})")
    document = messy["stored"].documents["huge.txt"]
    assert 0.9 * SMALL_LIMIT <= len(document.text) <= SMALL_LIMIT
    assert messy["stored"].manifest["files"]["huge.txt"]["chunks"] <= SMALL_LIMIT // 150 + 1
    assert messy["seconds"] < 120, f"the whole messy build took {messy['seconds']:.0f} s"


def test_the_default_limit_reads_20_mb_quickly(tmp_path):
    path = tmp_path / "huge.txt"
    path.write_bytes(("乡村振兴工作稳步推进，农牧民收入持续增长。\n" * 2000).encode("gbk") * 400)
    assert path.stat().st_size > 20 * 10**6
    started = time.perf_counter()
    limit = Settings().max_file_chars  # the default: 200 000 characters
    source = read_source(path, tmp_path, limit)
    assert time.perf_counter() - started < 5
    assert source.encoding == "gb18030" and 0.9 * limit <= len(source.text) <= limit
    assert source.sha256 == qa.reading.hash_file(path)  # of the whole file: a change anywhere is seen


def test_a_messy_folder_is_up_to_date_on_the_next_build(messy):
    again = messy["again"]
    assert again.up_to_date and again.embedded == 0
    assert dict(again.skipped) == dict(messy["report"].skipped)
    assert stale_reason(messy["stored"].manifest, messy["corpus"], Settings()) is None


def test_the_messy_index_answers(messy, settings, embedder):
    engine = load(messy["index"], settings, embedder)
    hits = engine.retrieve("伊金霍洛镇召开第几届人民代表大会", k=3, sources=["huge.txt"])
    assert hits and hits[0].source == "huge.txt"
    hits = engine.retrieve("嘎查村集体经济", k=3, sources=["sub/deeper/nested.md"])
    assert hits and hits[0].source == "sub/deeper/nested.md"


@pytest.mark.skipif(os.geteuid() == 0, reason="running as root: chmod 000 does not stop root from reading")
def test_a_file_without_read_permission_is_skipped(tmp_path, settings, embedder):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "ok.txt").write_text(seed_text(), encoding="utf-8")
    (corpus / "locked.txt").write_text(seed_text(), encoding="utf-8")
    (corpus / "locked.txt").chmod(0)
    report = build(settings, corpus, tmp_path / "index", embedder=embedder, progress=False, log=quiet)
    assert report.files == 1 and dict(report.skipped) == {"locked.txt": "cannot be read (Permission denied)"}


def test_a_permission_error_is_skipped_simulated(tmp_path, settings, embedder, monkeypatch):
    """The same case whoever runs the tests: ``open`` in ``qa.reading`` (which reads and hashes every file)
    raises the EACCES that a ``chmod 000`` file raises for a normal user."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "ok.txt").write_text(seed_text(), encoding="utf-8")
    locked = corpus / "locked.txt"
    locked.write_text(seed_text(), encoding="utf-8")

    def guarded_open(path, *args, **kwargs):
        if Path(path) == locked:
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))
        return open(path, *args, **kwargs)

    monkeypatch.setattr(qa.reading, "open", guarded_open, raising=False)
    report = build(settings, corpus, tmp_path / "index", embedder=embedder, progress=False, log=quiet)
    assert report.files == 1 and dict(report.skipped) == {"locked.txt": "cannot be read (Permission denied)"}
    assert build(settings, corpus, tmp_path / "index", embedder=embedder, progress=False).up_to_date


@pytest.mark.parametrize("kind", ["missing", "empty", "only-bad"])
def test_an_empty_corpus_is_the_only_thing_that_stops_a_build(tmp_path, settings, kind):
    corpus = tmp_path / "corpus"
    if kind != "missing":
        corpus.mkdir()
    if kind == "only-bad":
        (corpus / "empty.txt").write_bytes(b"")
        (corpus / "picture.txt").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(100))
        (corpus / "notes.docx").write_bytes(b"PK\x03\x04")
    with pytest.raises(EmptyCorpus) as problem:
        build(settings, corpus, tmp_path / "index", progress=False, log=quiet)
    assert str(corpus) in str(problem.value)
    if kind == "only-bad":
        assert "3 file(s) skipped" in str(problem.value)
    assert not (tmp_path / "index" / "manifest.json").exists()


def test_cli_build_of_an_empty_corpus_exits_1_without_traceback(tmp_path):
    (tmp_path / "corpus").mkdir()
    (tmp_path / "corpus" / "empty.txt").write_bytes(b"")
    result = run_qa("build", "--corpus", str(tmp_path / "corpus"), "--index", str(tmp_path / "index"))
    assert result.returncode == 1
    assert result.stderr.startswith("qa: no readable document in") and "Traceback" not in result.stderr
    assert "1 file(s) skipped" in result.stderr


def test_cli_build_into_an_unwritable_place_exits_1_without_traceback(tmp_path):
    (tmp_path / "file").write_text("not a folder")
    result = run_qa("build", "--corpus", str(SEEDS), "--index", str(tmp_path / "file" / "index"))
    assert result.returncode == 1 and result.stderr.startswith("qa: ") and "Traceback" not in result.stderr


# ------------------------------------------------------------------------------------------ broken indexes


@pytest.fixture(scope="module")
def small_index(tmp_path_factory, settings, embedder) -> Path:
    """A fresh index of one short document (its manifest has a checksum of itself)."""
    corpus = tmp_path_factory.mktemp("small-corpus")
    (corpus / "report.txt").write_text(seed_text(), encoding="utf-8")
    index = tmp_path_factory.mktemp("small-index")
    build(settings, corpus, index, embedder=embedder, progress=False, log=quiet)
    return index


def damage(path: Path, how: str) -> None:
    data = path.read_bytes()
    if how == "truncate":
        path.write_bytes(data[: len(data) // 2])
    elif how == "alter":
        middle = len(data) // 2
        path.write_bytes(data[:middle] + bytes([data[middle] ^ 0x01]) + data[middle + 1:])
    elif how == "delete":
        path.unlink()
    elif how == "empty":
        path.write_bytes(b"")


@pytest.mark.parametrize("how", ["truncate", "alter", "delete", "empty"])
@pytest.mark.parametrize("kind", ["index", "chunks", "documents", "manifest"])
def test_a_damaged_index_is_refused_naming_the_fix(tmp_path, small_index, settings, embedder, kind, how):
    index = copy_index(tmp_path / "index", small_index)
    if kind == "manifest":
        target = index / "manifest.json"
    else:
        target = index / read_manifest(index)["stored"][kind]["file"]
    damage(target, how)
    with pytest.raises(IndexProblem) as problem:
        load_index(index, settings)
    assert "qa build" in str(problem.value)
    with pytest.raises(IndexProblem):
        load(index, settings, embedder)  # never used to answer


def test_every_altered_byte_of_a_manifest_is_detected(tmp_path, small_index, settings):
    index = copy_index(tmp_path / "index", small_index)
    original = (index / "manifest.json").read_bytes()
    load_index(index, settings)
    positions = sorted(set(np.linspace(0, len(original) - 1, 60).astype(int)))
    for position in positions:
        altered = bytearray(original)
        altered[position] ^= 0x01
        (index / "manifest.json").write_bytes(bytes(altered))
        with pytest.raises(IndexProblem, match="qa build"):
            load_index(index, settings)


@pytest.mark.parametrize("change", [
    "not json", "a list", "null", "no stored", "stored is a list", "a path outside", "an absolute path",
    "dimension is text", "older format", "no files", "no checksum",
])
def test_a_malformed_manifest_is_an_index_problem(tmp_path, small_index, settings, change):
    index = copy_index(tmp_path / "index", small_index)
    manifest = json.loads((index / "manifest.json").read_text(encoding="utf-8"))
    entry = manifest["stored"]["index"]

    def index_file(name: str) -> dict:
        return {**manifest, "stored": {**manifest["stored"], "index": {**entry, "file": name}}}

    value = {
        "not json": "{'format': 2,", "a list": [manifest], "null": None,
        "no stored": {**manifest, "stored": None}, "stored is a list": {**manifest, "stored": [entry]},
        "a path outside": index_file("../" + entry["file"]), "an absolute path": index_file("/etc/passwd"),
        "dimension is text": {**manifest, "dimension": "384"}, "older format": {**manifest, "format": 1},
        "no files": {key: value for key, value in manifest.items() if key != "files"},
        "no checksum": {key: value for key, value in manifest.items() if key != "checksum"},
    }[change]
    if isinstance(value, dict) and change != "no checksum":  # a consistent checksum: the shape is what is wrong
        value["checksum"] = _manifest_checksum(value)
    text = value if isinstance(value, str) else json.dumps(value)
    (index / "manifest.json").write_text(text, encoding="utf-8")
    with pytest.raises(IndexProblem, match="qa build"):
        load_index(index, settings)


def test_an_index_of_another_model_is_refused(tmp_path, settings, embedder):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "report.txt").write_text(seed_text(), encoding="utf-8")
    other = settings.with_(model="some-other-model")
    build(other, corpus, tmp_path / "index", embedder=embedder, progress=False, log=quiet)
    with pytest.raises(IndexProblem) as problem:
        load(tmp_path / "index", settings, embedder)
    assert "some-other-model" in str(problem.value) and "qa build" in str(problem.value)
    result = run_qa("ask", QUESTION, "--index", str(tmp_path / "index"))
    assert result.returncode == 1 and "qa build" in result.stderr and "Traceback" not in result.stderr


class EightDimensions:
    """Stands for a model of another dimension (no second model is available offline)."""

    dimension = 8

    def encode_documents(self, texts, progress=False):
        vectors = np.array([[len(text) % 7 + 1, *range(7)] for text in texts], dtype=np.float32)
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)

    def encode_query(self, text):
        return self.encode_documents([text])[0]


def test_an_index_of_another_dimension_is_refused(tmp_path, settings, embedder, monkeypatch):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "report.txt").write_text(seed_text(), encoding="utf-8")
    build(settings, corpus, tmp_path / "index", embedder=EightDimensions(), progress=False, log=quiet)
    with pytest.raises(IndexProblem, match=r"8-dimensional.*gives 384: delete the index folder and rebuild"):
        load(tmp_path / "index", settings, embedder)
    monkeypatch.setattr("qa.model.Embedder", lambda *args, **kwargs: embedder)  # the lazy path, same model
    engine = load(tmp_path / "index", settings)
    with pytest.raises(IndexProblem, match="qa build"):
        engine.answer(QUESTION)
    # ... and the next build notices: every vector is made again with the real model
    report = build(settings, corpus, tmp_path / "index", embedder=embedder, progress=False, log=quiet)
    assert report.reused == 0 and report.embedded == report.chunks
    assert load(tmp_path / "index", settings, embedder).retrieve(QUESTION)


def test_a_missing_index_is_built_by_the_python_api(tmp_path, embedder, monkeypatch, capsys):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    shutil.copy(SEEDS / "001_84905cf744b120d4.txt", corpus)
    monkeypatch.setenv("QA_CORPUS", str(corpus))
    monkeypatch.setenv("QA_INDEX", str(tmp_path / "embeddings"))
    monkeypatch.setattr(qa, "_default", None)
    monkeypatch.setattr("qa.model.Embedder", lambda *args, **kwargs: embedder)  # the same real model, once
    result = qa.answer(QUESTION)
    stderr = capsys.readouterr().err
    assert f"qa: rebuilding the index in {tmp_path / 'embeddings'}: no index in" in stderr
    assert "1 files" in stderr and (tmp_path / "embeddings" / "manifest.json").is_file()
    assert result.found and "1.99亿元" in result.text


def test_cli_on_a_missing_index_names_the_build_command(tmp_path):
    result = run_qa("ask", QUESTION, "--index", str(tmp_path / "nothing"))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip() == f"qa: no index in '{tmp_path / 'nothing'}': build it with " \
                                    f"`qa build --index {tmp_path / 'nothing'}`"


# ------------------------------------------------------------------------------------------ killed builds

KILL_AT = r"""
import os, signal, sys
import qa.storage as store
stage, argv = sys.argv[1], sys.argv[2:]
write_synced, replace_manifest = store._write_synced, store._replace_manifest

def die():
    os.kill(os.getpid(), signal.SIGKILL)

def half_then_die(path, data):
    with open(path, "wb") as handle:
        handle.write(data[: len(data) // 2])
        handle.flush()
        os.fsync(handle.fileno())
    die()

def write(path, data):
    if stage == "data file" and path.parent.name.startswith(".build-") and path.name.startswith("chunks."):
        half_then_die(path, data)
    if stage == "manifest draft" and path.name.startswith(".manifest.json."):
        half_then_die(path, data)
    write_synced(path, data)

def replace(index_dir, manifest):
    if stage == "manifest rename":
        die()
    replace_manifest(index_dir, manifest)

store._write_synced, store._replace_manifest = write, replace
from qa.cli import main
sys.exit(main(argv))
"""


@pytest.fixture(scope="module")
def before(dev_questions) -> list[str]:
    """Questions whose answers from a killed build's index are compared with the committed index's."""
    return [row["question"] for row in dev_questions[::4]]


def leftover_kinds(index: Path, old_files: list[str]) -> set[str]:
    """What a killed build left beside the old files: ``.build-`` folders, ``.manifest.json.`` drafts, and
    the kinds (``chunks`` ...) of new data files."""
    new = set(p.name for p in index.iterdir()) - set(old_files) - {".lock"}
    return {next((prefix for prefix in (".build-", ".manifest.json.") if name.startswith(prefix)),
                 name.split(".")[0]) for name in new}


def check_old_index_intact(index: Path, manifest_bytes: bytes, questions, engine, settings, embedder) -> None:
    assert (index / "manifest.json").read_bytes() == manifest_bytes
    survivor = load(index, settings, embedder)
    assert answers(survivor, questions) == answers(engine, questions)
    assert survivor.retrieve(QUESTION) == engine.retrieve(QUESTION)


def next_build_succeeds(corpus: Path, index: Path, settings, embedder, new_file: str):
    same_precision = read_manifest(index)["precision"] == embedder.precision
    report = build(settings, corpus, index, embedder=embedder, progress=False, log=quiet)
    # the previous vectors are reused, unless they were computed in the other precision (the committed bf16
    # index on a CPU without native bf16): then every chunk is embedded again
    assert report.embedded > 0 and (report.reused > 0) == same_precision and report.files == 6
    leftovers = [p.name for p in index.iterdir() if p.name.startswith((".build-", ".manifest.json."))]
    assert leftovers == []
    manifest = read_manifest(index)
    data = sorted(p.name for p in index.iterdir() if p.name.startswith(("documents.", "chunks.", "index.")))
    assert data == sorted(entry["file"] for entry in manifest["stored"].values())  # the old ones are gone
    engine = load(index, settings, embedder)
    assert new_file in engine.documents and "1.99亿元" in engine.answer(QUESTION).text
    return engine


def killable_copy(tmp_path: Path, new_text: str) -> tuple[Path, Path, bytes]:
    """A copy of the seeds with one new file, and a copy of the committed index (of the seeds only)."""
    corpus = tmp_path / "corpus"
    shutil.copytree(SEEDS, corpus)
    (corpus / "new.txt").write_text(new_text, encoding="utf-8")
    index = copy_index(tmp_path / "index")
    reason = stale_reason(read_manifest(index), corpus, Settings())
    assert reason == "1 corpus file(s) were added, changed or removed"
    return corpus, index, (index / "manifest.json").read_bytes()


def test_sigkill_while_embedding_leaves_the_previous_index(tmp_path, engine, before, settings, embedder):
    # ~25 000 characters of new text: ~100 chunks, ~20 s of embedding on 2 cores
    new_text = "\n".join(path.read_text(encoding="utf-8")[::-1] for path in sorted(SEEDS.iterdir()))
    corpus, index, manifest_bytes = killable_copy(tmp_path, new_text)
    command = [sys.executable, "-m", "qa", "build", "--corpus", str(corpus), "--index", str(index)]
    process = subprocess.Popen(command, cwd=PROJECT_ROOT, env=ENV, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(process.stderr), daemon=True)
    reader.start()
    deadline = time.monotonic() + 120
    while not any(line.startswith("embedding") for line in lines) and time.monotonic() < deadline:
        assert process.poll() is None, "".join(lines)
        time.sleep(0.1)
    time.sleep(3)
    assert process.poll() is None, "the build ended before it could be killed: make the new file longer"
    os.kill(process.pid, signal.SIGKILL)
    assert process.wait(timeout=30) == -signal.SIGKILL
    assert any(line.startswith("embedding") for line in lines), "".join(lines)
    check_old_index_intact(index, manifest_bytes, before, engine, settings, embedder)
    next_build_succeeds(corpus, index, settings, embedder, "new.txt")


@pytest.mark.parametrize("stage", ["data file", "manifest rename", "manifest draft"])
def test_sigkill_while_writing_leaves_the_previous_index(tmp_path, engine, before, settings, embedder, stage):
    corpus, index, manifest_bytes = killable_copy(tmp_path, seed_text())
    old_files = sorted(p.name for p in index.iterdir())
    command = [sys.executable, "-c", KILL_AT, stage, "build", "--quiet", "--corpus", str(corpus),
               "--index", str(index)]
    process = subprocess.run(command, cwd=PROJECT_ROOT, env=ENV, capture_output=True, text=True, timeout=300)
    assert process.returncode == -signal.SIGKILL, process.stderr
    expected = {"data file": {".build-", "documents"}, "manifest rename": {"chunks", "documents", "index"},
                "manifest draft": {".manifest.json.", "chunks", "documents", "index"}}[stage]
    assert leftover_kinds(index, old_files) == expected  # killed where meant to be
    check_old_index_intact(index, manifest_bytes, before, engine, settings, embedder)
    next_build_succeeds(corpus, index, settings, embedder, "new.txt")


# ------------------------------------------------------------------------------------------- bad questions

BAD_QUESTIONS = {
    "empty": "",
    "whitespace": " \t\n\u3000 \r\n",
    "punctuation": "？？？！！！。。。，，，……",
    "long": QUESTION * 6000,  # 114 000 characters
    "control": "伊金霍洛镇\x00\x01\x07\x1b[31m2022年\x7f全年总收入\u200b是多少？\x00",
    "lone surrogate": "\ud800伊金霍洛镇2022年全年总收入是多少？\udfff",
    "emoji": "😀🎉🚀🇨🇳👨‍👩‍👧",
    "emoji and question": "伊金霍洛镇2022年全年总收入是多少？😀",
    "english": "What was the total income of Ejin Horo town in 2022?",
    "sql": "'; DROP TABLE documents; -- SELECT * FROM users WHERE '1'='1'",
    "html": "<script>alert(document.cookie)</script><img src=x onerror=alert(1)>",
    "path": "../../../../etc/passwd",
    "format string": "{0.__class__} %s %n ${jndi:ldap://x}",
    "right to left": "\u202e伊金霍洛镇\u202d",
}
NONSENSE = ("empty", "whitespace", "punctuation", "emoji", "sql", "html", "path", "format string")


@pytest.mark.parametrize("name", list(BAD_QUESTIONS))
def test_a_bad_question_gets_an_answer_or_a_clear_message(engine, name):
    question = BAD_QUESTIONS[name]
    result = engine.answer(question)
    assert isinstance(result, qa.Answer)
    assert result.found or result.message, "an abstention must say why"
    if name in NONSENSE:
        assert not result.found, f"answered {result.text!r} to nonsense"
    if name in ("control", "lone surrogate", "emoji and question"):
        assert result.found and "1.99亿元" in result.text
    assert isinstance(engine.retrieve(question), list)
    json.dumps(result.to_dict(), ensure_ascii=False).encode("utf-8")  # the app can send it


class CountingEmbedder:
    """The real model, recording what each question encoding was given."""

    def __init__(self, embedder) -> None:
        self.embedder, self.dimension, self.queries = embedder, embedder.dimension, []

    def encode_query(self, text):
        self.queries.append(text)
        return self.embedder.encode_query(text)

    def __getattr__(self, name):  # everything else (the reader's shared tokenizer and word embeddings) as is
        return getattr(self.embedder, name)


def test_an_overlong_question_is_cut_before_encoding(settings, embedder):
    spy = CountingEmbedder(embedder)
    engine = load(settings.index_dir, settings, spy)
    engine.answer("短问题")  # warm-up
    started = time.perf_counter()
    engine.answer(QUESTION)
    short = time.perf_counter() - started
    started = time.perf_counter()
    result = engine.answer(QUESTION * 6000)
    long = time.perf_counter() - started
    assert max(len(q) for q in spy.queries) <= settings.max_question_chars
    assert len(result.question) <= settings.max_question_chars
    assert long < max(3.0, 10 * short), (short, long)


@pytest.mark.parametrize("k", [0, -5, 1, 2.7, "3", 10**6])
def test_odd_k_values(engine, k):
    hits = engine.retrieve(QUESTION, k)
    expected = {0: 5, -5: 1, 1: 1, 2.7: 2, "3": 3}.get(k, len(engine.stored.chunks))
    assert len(hits) == expected
    assert engine.answer(QUESTION, k).found


def test_odd_sources(engine):
    assert engine.retrieve(QUESTION, 5, ["../../etc/passwd", "/etc/passwd"]) == []
    assert not engine.answer(QUESTION, 5, []).found
    only = engine.retrieve(QUESTION, 3, "001_84905cf744b120d4.txt")  # one name, not a list
    assert len(only) == 3 and {hit.source for hit in only} == {"001_84905cf744b120d4.txt"}


# --------------------------------------------------------------------------------------------- many users


def test_concurrent_questions_get_the_sequential_answers(engine, dev_questions):
    questions = [row["question"] for row in dev_questions[:12]] + list(BAD_QUESTIONS.values())[:4]
    sequential = answers(engine, questions)
    jobs = questions * 3
    with ThreadPoolExecutor(max_workers=8) as pool:
        concurrent = list(pool.map(lambda q: engine.answer(q).to_dict(), jobs))
    assert concurrent == sequential * 3


def test_a_short_load_test_against_the_real_app(app_server):
    """``scripts/loadtest.py`` with small numbers, against the shared ``python app.py``: 4 clients at once."""
    spec = importlib.util.spec_from_file_location("loadtest", PROJECT_ROOT / "scripts" / "loadtest.py")
    loadtest = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(loadtest)
    lines: list[str] = []
    figures = loadtest.run_load(app_server.url, app_server.process.pid, clients=4, per_client=2, rounds=2,
                                limit=6, log=lines.append)
    assert figures["requests_total"] == 6 + 2 * 4 * 2
    assert figures["errors"] == 0 and figures["mismatches"] == 0, "\n".join(lines)
    assert loadtest.verdict(figures, max_growth_mb=50) == [], "\n".join(lines)
    assert set(figures["memory_mb"]) == {"start", "after reference", "after round 1", "after round 2"}
