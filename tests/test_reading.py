"""qa.reading: finding the corpus files and decoding them, whatever their encoding.

The texts encoded here are real seed text (cleaned, so every character exists in the target encoding).
"""

from __future__ import annotations

import codecs
import hashlib
import shutil
import struct
import zlib
from pathlib import Path

import pytest

from qa.reading import UnreadableFile, decode, discover, read_source
from qa.settings import PROJECT_ROOT

SEEDS = PROJECT_ROOT / "seeds"
SIMPLIFIED = "001_84905cf744b120d4.txt"
TRADITIONAL = "004_85481d78a7325808.txt"


@pytest.fixture(scope="module")
def simplified_text(seed_documents) -> str:
    return seed_documents[SIMPLIFIED].text[:3000]


@pytest.fixture(scope="module")
def traditional_text(seed_documents) -> str:
    """Lines of a traditional-script seed that Big5 can hold."""
    lines = []
    for line in seed_documents[TRADITIONAL].text.split("\n"):
        try:
            line.encode("big5")
        except UnicodeEncodeError:
            continue
        lines.append(line)
    assert len("".join(lines)) > 1000
    return "\n".join(lines)


def png_bytes() -> bytes:
    """A real 8x8 grey PNG image."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    pixels = b"".join(b"\x00" + bytes(range(8)) for _ in range(8))
    header = struct.pack(">IIBBBBB", 8, 8, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(pixels))
            + chunk(b"IEND", b""))


@pytest.mark.parametrize("encoding", ["gbk", "gb18030", "utf-16-le", "utf-16-be", "utf-8"])
def test_simplified_text_decodes_from_every_encoding(simplified_text, encoding) -> None:
    text, used, warnings = decode(simplified_text.encode(encoding))
    assert text == simplified_text and not warnings
    assert used == {"gbk": "gb18030"}.get(encoding, encoding)  # GB18030 is a superset of GBK


def test_gb18030_only_characters_decode(simplified_text) -> None:
    text = simplified_text + "𠮷"  # a four-byte GB18030 character, outside GBK
    with pytest.raises(UnicodeEncodeError):
        text.encode("gbk")
    assert decode(text.encode("gb18030"))[:2] == (text, "gb18030")


@pytest.mark.parametrize("encoding", ["big5", "utf-16-le", "utf-16-be", "utf-8"])
def test_traditional_text_decodes_from_every_encoding(traditional_text, encoding) -> None:
    text, used, warnings = decode(traditional_text.encode(encoding))
    assert (text, used, warnings) == (traditional_text, encoding, [])


@pytest.mark.parametrize(("mark", "encoding", "codec"), [
    (codecs.BOM_UTF8, "utf-8", "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16-le", "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16-be", "utf-16"),
])
def test_byte_order_mark_decides_and_is_dropped(simplified_text, mark, encoding, codec) -> None:
    text, used, warnings = decode(mark + simplified_text.encode(encoding))
    assert (text, used, warnings) == (simplified_text, codec, [])
    assert "\ufeff" not in text


def test_a_few_invalid_bytes_are_replaced_with_a_warning(simplified_text) -> None:
    data = bytearray(simplified_text.encode("utf-8"))
    data[300] = data[2000] = 0xFF  # two bytes no UTF-8 (or GB18030) sequence can hold
    text, used, warnings = decode(bytes(data))
    assert used == "utf-8" and len(warnings) == 1 and "replaced" in warnings[0]
    assert 1 <= text.count("\ufffd") <= 6  # each broken character becomes replacement marks
    assert text.split("\ufffd")[-1] in simplified_text  # the rest of the text is intact
    assert len(text.replace("\ufffd", "")) >= len(simplified_text) - 2


def test_read_source_reports_the_replacement(tmp_path, simplified_text) -> None:
    data = bytearray(simplified_text.encode("utf-8"))
    data[500] = 0xFF
    (tmp_path / "report.txt").write_bytes(bytes(data))
    source = read_source(tmp_path / "report.txt", tmp_path)
    assert source.warnings and "\ufffd" in source.text
    assert source.sha256 == hashlib.sha256(bytes(data)).hexdigest()


@pytest.mark.parametrize(("data", "reason"), [
    (png_bytes(), "binary"),
    (b"%PDF-1.7\n" + bytes(range(256)) * 4, "binary"),
    (bytes(range(256)) * 16, "binary"),  # no magic number, NUL bytes
    (bytes(range(1, 256)) * 16, "not text"),  # no NUL, but far too many invalid bytes
    (b"", "empty"),
    (b" \r\n\t\n", "empty"),
])
def test_binary_and_empty_data_are_rejected_with_a_reason(data, reason) -> None:
    with pytest.raises(UnreadableFile, match=reason):
        decode(data)


def test_nul_bytes_are_not_text() -> None:
    with pytest.raises(UnreadableFile, match="binary"):
        decode(b"\x00" * 100)


def test_bytes_that_are_valid_ascii_read_as_ascii() -> None:
    """Without a byte-order mark, 8 bytes that are all ASCII are ASCII text: UTF-16 that happens to be made of
    ASCII bytes (乡村振兴 in UTF-16-LE) cannot be told from it, so it is not guessed."""
    assert decode("乡村振兴".encode("utf-16-le")) == ("aNQg/ctQ", "utf-8", [])


@pytest.mark.parametrize("tail", [b"\xe4\xbc", b"\xe4\xbc\xe4", b"\xff\xfe\xfd"])
@pytest.mark.parametrize("repeat", [1, 40])
def test_a_few_invalid_bytes_are_replaced_and_counted_whatever_the_file_size(tail, repeat) -> None:
    """A truncated download (a character cut in two) or a few damaged bytes: the text is kept, each invalid
    byte becomes U+FFFD, and the warning counts them, in a tiny file as in a large one."""
    good = "伊金霍洛镇全年总收入1.99亿元。" * repeat
    text, codec, warnings = decode(good.encode("utf-8") + tail)
    assert (text, codec) == (good + "\ufffd" * len(tail), "utf-8")
    assert warnings == [f"{len(tail)} invalid byte(s) replaced (read as utf-8)"]


def test_gbk_text_with_a_damaged_byte_is_read_as_gbk() -> None:
    data = bytearray(("宋家镇引进本土人才回乡投资项目三十余个。" * 30).encode("gbk"))
    data[101] = 0xFF
    text, codec, warnings = decode(bytes(data))
    assert codec == "gb18030" and "宋家镇" in text and warnings


def test_read_source_on_every_seed_file() -> None:
    for path in sorted(SEEDS.iterdir()):
        source = read_source(path, SEEDS)
        data = path.read_bytes()
        assert source.source == path.name and source.encoding == "utf-8" and not source.warnings
        assert source.sha256 == hashlib.sha256(data).hexdigest()
        assert source.text == data.decode("utf-8")


def test_discover_finds_supported_files_and_names_the_rest(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / ".hidden").mkdir()
    shutil.copy(SEEDS / SIMPLIFIED, tmp_path / "b.txt")
    for name in ("a.md", "sub/c.html", "sub/d.htm", ".hidden/e.txt", ".f.txt", "g.doc", "h", "i.PDF", "j.docx"):
        (tmp_path / name).write_text("乡村振兴。", encoding="utf-8")
    found, skipped = discover(tmp_path)
    assert [p.relative_to(tmp_path).as_posix() for p in found] == ["a.md", "b.txt", "i.PDF", "j.docx", "sub/c.html",
                                                                   "sub/d.htm"]
    assert sorted(source for source, _ in skipped) == ["g.doc", "h"]
    assert all("unsupported file type" in reason for _, reason in skipped)
    assert dict(skipped)["g.doc"].endswith("'.doc'")
