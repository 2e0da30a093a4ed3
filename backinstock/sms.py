"""How many SMS segments a text costs: GSM-7 when every character is in the GSM 03.38 alphabet (its
extension characters take two septets), else UCS-2 in UTF-16 code units (an emoji takes two).

One segment holds 160 septets or 70 units; a longer text is split into segments of 153 septets or 67
units (the rest is the concatenation header).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

GSM_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM_EXTENSION = frozenset("^{}\\[~]|€\f")


@dataclass(frozen=True)
class Segments:
    encoding: str  # "GSM-7" or "UCS-2"
    units: int  # septets, or UTF-16 code units
    count: int


def segments(text: str) -> Segments:
    if all(char in GSM_BASIC or char in GSM_EXTENSION for char in text):
        units = sum(2 if char in GSM_EXTENSION else 1 for char in text)
        single, part = 160, 153
        encoding = "GSM-7"
    else:
        units = len(text.encode("utf-16-le")) // 2
        single, part = 70, 67
        encoding = "UCS-2"
    count = 1 if units <= single else math.ceil(units / part)
    return Segments(encoding, units, count)
