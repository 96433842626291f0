"""Chinese script handling: a search form aligned with the original, and script detection.

The search form maps traditional to simplified script (OpenCC ``t2s``) and full-width ASCII to
half-width, keeping the length unchanged so offsets carry over between the two texts.

>>> to_search("鄉村振興ＡＢＣ")
'乡村振兴abc'
>>> is_traditional("宋家鎮引進人才"), is_traditional("宋家镇引进人才")
(True, False)
"""

from __future__ import annotations

from functools import lru_cache

import opencc

_FULL_WIDTH_OFFSET = 0xFEE0  # U+FF01..U+FF5E are U+0021..U+007E shifted by this


@lru_cache(maxsize=2)
def _converter(config: str) -> opencc.OpenCC:
    return opencc.OpenCC(config)


def to_half_width(text: str) -> str:
    """Full-width ASCII forms and the ideographic space to their half-width equivalents."""
    out = []
    for ch in text:
        code = ord(ch)
        if 0xFF01 <= code <= 0xFF5E:
            out.append(chr(code - _FULL_WIDTH_OFFSET))
        elif code == 0x3000:
            out.append(" ")
        else:
            out.append(ch)
    return "".join(out)


def to_simplified(text: str) -> str:
    """Traditional to simplified script, same length as the input.

    OpenCC converts phrase by phrase; where a phrase changes length, the text falls back to
    character-by-character conversion, which never does.
    """
    converted = _converter("t2s").convert(text)
    if len(converted) == len(text):
        return converted
    return "".join(_simplify_char(ch) for ch in text)


@lru_cache(maxsize=65536)
def _simplify_char(ch: str) -> str:
    converted = _converter("t2s").convert(ch)
    return converted if len(converted) == 1 else ch


def to_traditional(text: str) -> str:
    """Simplified to traditional script (for showing an answer in the script a user asked in)."""
    return _converter("s2t").convert(text)


def to_search(text: str) -> str:
    """The search form of ``text``: simplified, half-width, lower-case, same length."""
    search = to_half_width(to_simplified(text)).lower()
    return search if len(search) == len(text) else to_half_width(to_simplified(text))


def is_traditional(text: str) -> bool:
    """True when ``text`` has more characters that change under t2s than under s2t."""
    to_simple = sum(a != b for a, b in zip(text, to_simplified(text), strict=True))
    traditional = _converter("s2t").convert(text)
    to_trad = sum(a != b for a, b in zip(text, traditional, strict=False))
    return to_simple > 0 and to_simple >= to_trad
