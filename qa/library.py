"""Adding documents to the corpus folder and removing them, with the index and the engine kept in step.

What the app's "添加文档" control does, without the UI: an upload is checked (a safe file name, size, a
supported type, not the content of a document already indexed), copied into the corpus folder, and the index
is updated incrementally (``qa.indexing.build``: only new or changed files are embedded, the manifest is swapped
atomically). A new file that cannot be read comes out of the corpus folder again, with the reason. Then an
engine over the new index replaces the old one; questions asked meanwhile are answered by the old engine.
Updates are serialised by a lock, so concurrent uploads and removals cannot interleave.

>>> library = Library(load("embeddings"))                              # doctest: +SKIP
>>> change = library.add([Upload(Path("/tmp/upload/x.pdf"), "报告.pdf")])  # doctest: +SKIP
>>> change.added, change.refused                                       # doctest: +SKIP
(['报告.pdf'], [])
>>> library.engine.answer("…")                                         # doctest: +SKIP
>>> library.remove("报告.pdf")                                          # doctest: +SKIP

Removed documents are moved to a trash folder beside the corpus folder (``<corpus>.trash``), not deleted.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import threading
import time
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .indexing import BuildReport, build
from .reading import SUPPORTED_SUFFIXES, hash_file
from .retrieval import Engine
from .settings import Settings
from .storage import StoredIndex, load_index

MAX_NAME_BYTES = 200  # file systems allow 255 bytes; the rest leaves room for a "-2" on a name clash
_WINDOWS_RESERVED = re.compile(r'[<>:"|?*]')  # replaced, so the corpus folder can be copied to any system
_DRIVE = re.compile(r"[A-Za-z]:")
_STAGING_PREFIX = ".upload-"  # hidden: a file being copied in is never read by a build
# Why a file cannot be read (``qa.reading``), as the page says it; other reasons are shown as they are.
_READING_REASONS = {
    "empty file": "空文件",
    "not a valid PDF file": "不是有效的 PDF 文件",
    "PDF has no text layer": "PDF 没有文字层（扫描件？），不支持 OCR",
    "PDF is encrypted": "PDF 已加密，需要密码才能打开",
    "PDF is damaged": "PDF 文件已损坏或不完整",
    "not a valid Word": "不是有效的 Word (.docx) 文件",
    "Word file is encrypted or in the old .doc format": "Word 文件已加密或是旧的 .doc 格式（请另存为 .docx）",
    "binary data, not text": "不是文本文件（二进制数据）",
    "no text left after cleaning": "文件中没有可用的文字",
}
Progress = Callable[[float, str], None]


class Refused(Exception):
    """An upload or a removal that is not done; the message (Chinese, for the page) says why."""


class UpdateFailed(Exception):
    """The index could not be updated (the corpus folder was put back as it was); the message says why."""


@dataclass(frozen=True)
class Upload:
    """An uploaded file: where its bytes are now (a temporary file) and the name it was given by the user,
    which is not trusted (see ``safe_name``)."""

    path: Path
    name: str


@dataclass
class Change:
    """What an update did: corpus names added to or removed from the index, uploads refused as
    ``(name as uploaded, reason)``, reading warnings as ``(corpus name, warning)``, and its duration."""

    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    refused: list[tuple[str, str]] = field(default_factory=list)
    warnings: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0


@dataclass(frozen=True)
class Limits:
    """How much one upload may hold: bytes per file and files per upload."""

    max_bytes: int
    max_files: int

    @classmethod
    def of(cls, settings) -> Limits:
        """The limits of ``settings`` (``upload_max_mb``, ``upload_max_files``)."""
        return cls(settings.upload_max_mb * 1024 * 1024, settings.upload_max_files)


# ---------------------------------------------------------------------------------------------- names


def safe_name(name: str) -> str:
    """The corpus file name for an upload named ``name``, or ``Refused`` with the reason.

    The name is NFC-normalised (Chinese stays as it is); a directory part is dropped ("报告/a.pdf" → "a.pdf"),
    but a name that climbs out (".." as a part) or is absolute ("/etc/passwd", "C:\\x") is refused, as are
    control or invisible characters (NUL, line breaks, right-to-left overrides), hidden names (a leading
    "."), and unsupported types. Characters other systems forbid (<>:"|?*) become "_"; a name longer than
    ``MAX_NAME_BYTES`` in UTF-8 is shortened, keeping its suffix."""
    name = unicodedata.normalize("NFC", str(name)).strip()
    if any(unicodedata.category(ch) in ("Cc", "Cf") for ch in name):
        raise Refused("文件名含有控制字符或不可见字符")
    parts = re.split(r"[/\\]", name)
    if name.startswith(("/", "\\")) or _DRIVE.match(name) or ".." in parts:
        raise Refused("文件名含有路径（只接受文件本身的名字）")
    name = _WINDOWS_RESERVED.sub("_", parts[-1].strip())
    if not name:
        raise Refused("文件名为空")
    if name.startswith("."):
        raise Refused("文件名不能以“.”开头（隐藏文件不会被索引）")
    stem, suffix = os.path.splitext(name)
    if suffix.lower() not in SUPPORTED_SUFFIXES:
        raise Refused(f"不支持的文件类型“{suffix or name}”（支持 {' '.join(SUPPORTED_SUFFIXES)}）")
    stem = stem.rstrip(" .")
    if not stem:
        raise Refused("文件名为空")
    while len((stem + suffix).encode("utf-8")) > MAX_NAME_BYTES:
        stem = stem[:-1]
    return stem + suffix


def free_name(folder: Path, name: str) -> str:
    """``name``, or when a file of that name is in ``folder``, the first free ``stem-2.suffix``,
    ``stem-3.suffix`` …"""
    stem, suffix = os.path.splitext(name)
    candidate, number = name, 1
    while os.path.lexists(folder / candidate):
        number += 1
        candidate = f"{stem}-{number}{suffix}"
    return candidate


# ---------------------------------------------------------------------------------------------- checks


def check_count(uploads: Sequence[Upload], limits: Limits) -> None:
    """``Refused`` when one upload holds more files than ``limits`` allow."""
    if len(uploads) > limits.max_files:
        raise Refused(f"一次最多添加 {limits.max_files} 个文件（这次选了 {len(uploads)} 个）")


def check_size(upload: Upload, limits: Limits) -> None:
    """``Refused`` for an empty file, a file over the size limit, or one that is gone."""
    try:
        size = upload.path.stat().st_size
    except OSError as error:
        raise Refused(f"上传的文件无法读取（{error.strerror or error}）") from error
    if size == 0:
        raise Refused("空文件（0 字节）")
    if size > limits.max_bytes:
        raise Refused(f"文件太大（{size / 1024 / 1024:.1f} MB，上限 {limits.max_bytes / 1024 / 1024:.0f} MB）")


def check_new_content(sha256: str, known: dict[str, str]) -> None:
    """``Refused`` naming the document when ``sha256`` is the content of one in ``known`` (sha256 → name)."""
    if sha256 in known:
        raise Refused(f"已存在相同内容的文档：{known[sha256]}")


def reading_reason(reason: str) -> str:
    """Why a file cannot be read (a ``qa.reading`` reason), as the page says it."""
    for start, said in _READING_REASONS.items():
        if reason.startswith(start):
            return f"文件无法读取：{said}（{reason}）"
    return f"文件无法读取：{reason}"


# ---------------------------------------------------------------------------------------------- library


def _quiet(fraction: float, message: str) -> None:
    """Progress not shown."""


def _log(message: str) -> None:
    print(f"qa.library: {message}", file=sys.stderr, flush=True)


class Library:
    """The corpus folder, its index and the engine over it, changed one update at a time.

    ``engine`` is always a complete engine: an update builds the new index and loads an engine over it
    (sharing the old one's embedder, its reader loaded) before it replaces ``engine`` in one assignment, so
    a question that took ``library.engine`` is answered from one index from start to end."""

    def __init__(self, engine: Engine, corpus_dir: Path | None = None, index_dir: Path | None = None,
                 limits: Limits | None = None) -> None:
        self.engine = engine
        self.settings = engine.settings
        self.corpus_dir = Path(corpus_dir or self.settings.corpus_dir)
        self.index_dir = Path(index_dir or self.settings.index_dir)
        self.limits = limits or Limits.of(self.settings)
        self._lock = threading.Lock()

    @property
    def trash_dir(self) -> Path:
        """Where removed documents go: ``<corpus folder>.trash`` beside the corpus folder."""
        return self.corpus_dir.with_name(self.corpus_dir.name + ".trash")

    def add(self, uploads: Sequence[Upload], progress: Progress | None = None) -> Change:
        """Copy the acceptable ``uploads`` into the corpus folder and update the index and the engine.

        Each refused upload is listed with its reason in ``Change.refused``, the others are added; a new file
        that cannot be read is refused with the reason and taken out of the corpus folder again. ``Refused``
        when there are more files than the limit (nothing is added); ``UpdateFailed`` when the index cannot be
        updated (the uploads are taken out again, the previous index stays). ``progress`` is told each step;
        the embedding step also reports through tqdm (``gr.Progress(track_tqdm=True)`` shows it)."""
        started = time.perf_counter()
        tell = progress or _quiet
        check_count(uploads, self.limits)
        change = Change()
        with self._lock:
            tell(0.0, "检查文件")
            placed = self._place(uploads, change)
            if placed:
                tell(0.1, "读取并索引新文档")
                self._index(placed, change, tell, show_embedding=progress is not None)
            if change.added:
                tell(0.9, "加载新索引")
                self._swap()
        change.seconds = time.perf_counter() - started
        return change

    def remove(self, source: str, progress: Progress | None = None) -> Change:
        """Take the document ``source`` (a name in ``engine.documents``) out of the index: its file is moved to
        ``trash_dir`` and the index and the engine are updated. ``Refused`` for a name not in the index or the
        last document; ``UpdateFailed`` when the index cannot be updated (the file is put back)."""
        started = time.perf_counter()
        tell = progress or _quiet
        with self._lock:
            documents = self.engine.documents
            if source not in documents:
                raise Refused(f"索引中没有这份文档：{source}")
            if len(documents) == 1:
                raise Refused("这是索引中的最后一份文档，不能删除")
            tell(0.0, "移到回收文件夹")
            trashed = self._to_trash(source)
            tell(0.2, "更新索引")
            try:
                self._build()
            except Exception as problem:
                if trashed:
                    shutil.move(trashed, self._inside_corpus(source))
                raise UpdateFailed(f"索引更新失败，文档已放回：{problem}") from problem
            tell(0.9, "加载新索引")
            self._swap()
        return Change(removed=[source], seconds=time.perf_counter() - started)

    # ------------------------------------------------------------------------------------------ steps

    def _place(self, uploads: Sequence[Upload], change: Change) -> dict[str, str]:
        """Copy each acceptable upload into the corpus folder; returns corpus name → name as uploaded. Refused
        uploads go to ``change.refused``."""
        known = {document.sha256: source for source, document in self.engine.documents.items()}
        placed: dict[str, str] = {}
        for upload in uploads:
            try:
                name = safe_name(upload.name)
                check_size(upload, self.limits)
                sha256 = hash_file(upload.path)
                check_new_content(sha256, known)
                corpus_name = self._copy_in(upload.path, name)
            except Refused as refusal:
                change.refused.append((upload.name, str(refusal)))
                continue
            except OSError as error:
                change.refused.append((upload.name, f"文件无法保存（{error.strerror or error}）"))
                continue
            known[sha256] = corpus_name
            placed[corpus_name] = upload.name
        return placed

    def _copy_in(self, path: Path, name: str) -> str:
        """Copy ``path`` into the corpus folder under ``name`` (or a free variant); returns the name used. The
        bytes go to a hidden file first, renamed at the end, so a build never reads half a file."""
        self.corpus_dir.mkdir(parents=True, exist_ok=True)
        staging = self.corpus_dir / f"{_STAGING_PREFIX}{os.getpid()}-{threading.get_ident()}"
        try:
            shutil.copyfile(path, staging)
            name = free_name(self.corpus_dir, name)
            os.replace(staging, self.corpus_dir / name)
        finally:
            staging.unlink(missing_ok=True)
        return name

    def _index(self, placed: dict[str, str], change: Change, tell: Progress, show_embedding: bool) -> None:
        """Update the index with the ``placed`` files; those that cannot be read are refused with the reason,
        taken out of the corpus folder and the index updated again without them. The rest go to
        ``change.added``, with their reading warnings."""
        report = self._update(placed, show_embedding)
        unreadable = {source: reason for source, reason in report.skipped if source in placed}
        if unreadable:
            tell(0.8, "移除无法读取的文件")
            change.refused += [(placed[source], reading_reason(reason)) for source, reason in unreadable.items()]
            self._take_out({source: placed.pop(source) for source in unreadable})
            report = self._update(placed)
        change.added = sorted(placed)
        change.warnings = [(source, warning) for source, warning in report.warnings if source in placed]

    def _update(self, placed: dict[str, str], show_embedding: bool = False) -> BuildReport:
        """Build the index with the ``placed`` files in the corpus folder; on failure they are taken out again
        and ``UpdateFailed`` says why."""
        try:
            return self._build(show_embedding)
        except Exception as problem:  # whatever stopped the build, the corpus folder goes back as it was
            self._take_out(placed)
            raise UpdateFailed(f"索引更新失败，上传的文件已移除：{problem}") from problem

    def _build(self, show_embedding: bool = False) -> BuildReport:
        report = build(self.settings, self.corpus_dir, self.index_dir, embedder=self.engine.embedder,
                       progress=show_embedding, log=_log)
        _log(report.summary())
        return report

    def _take_out(self, placed: dict[str, str]) -> None:
        """Delete files this library copied into the corpus folder (never any other)."""
        for source in placed:
            (self.corpus_dir / source).unlink(missing_ok=True)

    def _to_trash(self, source: str) -> Path | None:
        """Move the corpus file ``source`` to ``trash_dir`` (under a free name); its new path, or None when the
        file is already gone."""
        path = self._inside_corpus(source)
        if not os.path.lexists(path):
            return None
        self.trash_dir.mkdir(parents=True, exist_ok=True)
        target = self.trash_dir / free_name(self.trash_dir, path.name)
        shutil.move(path, target)
        return target

    def _inside_corpus(self, source: str) -> Path:
        """The path of ``source`` in the corpus folder; ``Refused`` when it would lead out of it."""
        path = self.corpus_dir / source
        if not path.parent.resolve().is_relative_to(self.corpus_dir.resolve()):
            raise Refused(f"文档不在文档文件夹中：{source}")
        return path

    def _swap(self) -> None:
        """Load an engine over the new index, with the old engine's embedder and reader, and put it in place of
        the old one."""
        stored = load_index(self.index_dir, self.settings)
        self.engine = SharedReaderEngine(stored, self.settings, self.engine.embedder, self.engine.reader)


class SharedReaderEngine(Engine):
    """An ``Engine`` that answers with a reader another engine has loaded (the reader does not depend on the
    index), instead of loading a copy of its own (seconds, and its memory)."""

    def __init__(self, stored: StoredIndex, settings: Settings, embedder, reader) -> None:
        super().__init__(stored, settings, embedder)
        self._shared_reader = reader

    @property
    def reader(self):
        return self._shared_reader
