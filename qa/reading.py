"""Finding and decoding the corpus files.

>>> text, encoding, warnings = decode("乡村振兴".encode("gbk"))
>>> text, encoding
('乡村振兴', 'gb18030')
"""

from __future__ import annotations

import codecs
import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

SUPPORTED_SUFFIXES = (".txt", ".md", ".html", ".htm")
MAX_REPLACED_FRACTION = 0.01  # more invalid bytes than this means the file is not text
MIN_COMMON_SHARE = 0.1  # real Chinese prose has ~40 % of its characters in _COMMON; garbage has ~1 %
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
            if path.is_symlink() and not path.resolve().is_relative_to(corpus_dir.resolve()):
                skipped.append((relative, "link to a file outside the corpus folder"))
            elif path.suffix.lower() in SUPPORTED_SUFFIXES:
                found.append(path)
            else:
                skipped.append((relative, f"unsupported file type '{path.suffix or name}'"))
    return found, skipped


def file_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read_source(path: Path, corpus_dir: Path) -> SourceFile:
    """Read and decode one file; raises ``UnreadableFile`` with the reason."""
    relative = path.relative_to(corpus_dir).as_posix()
    try:
        data = path.read_bytes()
    except OSError as error:
        raise UnreadableFile(f"cannot be read ({error.strerror or error})") from error
    text, encoding, warnings = decode(data)
    return SourceFile(relative, path, file_hash(data), text, encoding, warnings)


def decode(data: bytes) -> tuple[str, str, list[str]]:
    """Decode bytes of unknown encoding: ``(text, encoding, warnings)``.

    Byte-order marks decide first; then UTF-16 without a mark (NUL bytes on alternate positions);
    then strict UTF-8; then strict GB18030, Big5 (and UTF-16 for even lengths), the best by share
    of common Chinese characters;
    last, the decoder with the fewest invalid bytes, replaced, if they are under 1 %.
    """
    if not data.strip():
        raise UnreadableFile("empty file")
    for bom, codec in ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"),
                       (codecs.BOM_UTF16_BE, "utf-16")):
        if data.startswith(bom):
            return data.decode(codec, errors="replace"), codec, []
    unmarked_utf16 = _unmarked_utf16(data)
    if unmarked_utf16:
        return data.decode(unmarked_utf16, errors="replace"), unmarked_utf16, []
    if data.startswith(_BINARY_MAGIC):
        raise UnreadableFile("binary data, not text")
    strict = []
    utf16 = ("utf-16-le", "utf-16-be") if len(data) % 2 == 0 else ()
    for codec in ("utf-8", "gb18030", "big5", *utf16):
        try:
            strict.append((codec, data.decode(codec)))
        except UnicodeDecodeError:
            continue
    if b"\x00" in data[:4096]:
        strict = [(codec, text) for codec, text in strict if codec.startswith("utf-16")]
        if not strict:
            raise UnreadableFile("binary data, not text")
    if strict and strict[0][0] == "utf-8":
        return strict[0][1], "utf-8", []
    plausible = [pair for pair in strict if _common_share(pair[1]) >= MIN_COMMON_SHARE]
    if plausible:
        codec, text = max(plausible, key=lambda pair: _common_share(pair[1]))
        return text, codec, []
    return _decode_with_replacement(data)


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


def _decode_with_replacement(data: bytes) -> tuple[str, str, list[str]]:
    best = None
    for codec in ("utf-8", "gb18030", "big5"):
        text = data.decode(codec, errors="replace")
        replaced = text.count("\ufffd")
        if best is None or replaced < best[2]:
            best = (text, codec, replaced)
    text, codec, replaced = best
    if replaced > MAX_REPLACED_FRACTION * max(1, len(text)):
        raise UnreadableFile(f"not text in any supported encoding ({replaced} invalid bytes as {codec})")
    return text, codec, [f"{replaced} invalid byte(s) replaced (read as {codec})"]
