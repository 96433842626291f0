"""Finding and decoding the corpus files.

>>> text, encoding, warnings = decode("乡村振兴".encode("gbk"))
>>> text, encoding
('乡村振兴', 'gb18030')
"""

from __future__ import annotations

import codecs
import hashlib
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

SUPPORTED_SUFFIXES = (".txt", ".md", ".html", ".htm")
MAX_REPLACED_FRACTION = 0.01  # more invalid bytes than this means the file is not text
MIN_COMMON_SHARE = 0.1  # real Chinese prose has ~40 % of its characters in _COMMON; garbage has ~1 %
SHARE_SAMPLE_CHARS = 100_000  # the share is measured on this many characters: enough, and bounded
MAX_FILE_CHARS = 200_000  # default cap on the characters indexed per file (Settings.max_file_chars)
_BYTES_PER_CHAR = 4  # at most, in every supported encoding: a cap of N characters reads 4 N + 4 bytes
_BINARY_MAGIC = (b"\x89PNG", b"\xff\xd8\xff", b"GIF8", b"%PDF", b"PK\x03\x04", b"\x1f\x8b", b"\x7fELF")
# The commonest Chinese characters in both scripts: text decoded with the wrong codec has few of them.
_COMMON = set(
    "的一是在不了有和人这中大为上个国我以要他时来用们生到作地于出就分对成会可主发年动同工也能下过子说产种面而方"
    "后多定行学法所民得经十三之进着等部度家电力里如水化高自二理起小物现实加量都两体制机当使点从业本去把性好应开"
    "它合还因由其些然前外天政四日那社义事平形相全表间样与关各重新线内数正心反你明看原又么利比或但质气第向道命此"
    "變條隻沒結解問意建月公無系軍很情者最立代想已通並提直題黨程展五果料象員革位入常文總次品式活設及管特件長求老頭"
    "這個們國時來為對會發動說產種麼後經進們實體機當點從業還與關開東計區員設務鄉鎮村黨組織發傳統農業"
)


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


def file_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def hash_file(path: Path) -> str:
    """The sha256 of a file, read in blocks (a file of any size costs no memory)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_source(path: Path, corpus_dir: Path, max_chars: int | None = None) -> SourceFile:
    """Read and decode one file; raises ``UnreadableFile`` with the reason.

    With ``max_chars``, at most that many characters are kept (cut at a line break when one is near),
    with a warning, and only the bytes that can hold them are read and decoded; the hash is always
    of the whole file.
    """
    relative = path.relative_to(corpus_dir).as_posix()
    limit = None if max_chars is None else _BYTES_PER_CHAR * max_chars + _BYTES_PER_CHAR
    try:
        with open(path, "rb") as handle:
            data = handle.read() if limit is None else handle.read(limit)
            digest = hashlib.sha256(data)
            size = len(data)
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
                size += len(block)
    except OSError as error:
        raise UnreadableFile(f"cannot be read ({error.strerror or error})") from error
    text, encoding, warnings = decode(data, complete=size == len(data))
    if max_chars is not None and (len(text) > max_chars or size > len(data)):
        cut = text.rfind("\n", 0, max_chars + 1)
        text = text[: cut if cut > 0.9 * max_chars else max_chars]
        warnings.append(f"{size / 1e6:.1f} MB: only the first {len(text):,} characters are indexed "
                        f"(limit max_file_chars = {max_chars:,})")
    return SourceFile(relative, path, digest.hexdigest(), text, encoding, warnings)


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
    last, the decoder with the fewest invalid bytes, replaced, if they are under 1 %.
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
    if b"\x00" in data[:4096]:
        strict = [(codec, text) for codec, text in strict if codec.startswith("utf-16")]
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


def _common_share(text: str) -> float:
    han = [ch for ch in text if "\u4e00" <= ch <= "\u9fff"]
    if not han:
        return 1.0 if text.isascii() else 0.0
    return sum(ch in _COMMON for ch in han) / len(han)


def _decode_with_replacement(data: bytes, complete: bool = True) -> tuple[str, str, list[str]]:
    best = None
    for codec in ("utf-8", "gb18030", "big5"):
        text = _decode_bytes(data, codec, "replace", complete)
        replaced = text.count("\ufffd")
        if best is None or replaced < best[2]:
            best = (text, codec, replaced)
    text, codec, replaced = best
    if replaced > MAX_REPLACED_FRACTION * max(1, len(text)):
        raise UnreadableFile(f"not text in any supported encoding ({replaced} invalid bytes as {codec})")
    return text, codec, [f"{replaced} invalid byte(s) replaced (read as {codec})"]
