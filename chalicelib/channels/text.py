"""Splitting long text at a platform's message limit, counted in UTF-16 code units (the strictest count any
platform uses: an emoji is two units, so a chunk that fits here fits a limit counted in characters too)."""

from __future__ import annotations


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def split_text(text: str, limit: int) -> list[str]:
    """Chunks of at most `limit` UTF-16 units, cut on a line break, else a space or tab, else hard.

    The separator at a cut is dropped; chunks that are only whitespace are skipped (platforms refuse them).
    """
    chunks: list[str] = []
    rest = text
    while rest:
        if utf16_len(rest) <= limit:
            chunks.append(rest)
            break
        units = 0
        fit = 0
        for ch in rest:
            width = 2 if ord(ch) > 0xFFFF else 1
            if units + width > limit:
                break
            units += width
            fit += 1
        window = rest[:fit]
        cut = window.rfind("\n")
        if cut <= 0:
            cut = max(window.rfind(" "), window.rfind("\t"))
        if cut > 0:
            chunks.append(rest[:cut])
            rest = rest[cut + 1 :]
        else:
            chunks.append(window)
            rest = rest[fit:]
    return [c for c in chunks if c.strip()]
