"""Text from people is data: stored as given, printed with control characters escaped.

A name, role or comment can hold a newline (a forged second line in ``history``),
an ANSI escape sequence (recolouring or erasing a terminal) or a bidirectional
override (showing text in another order than it is stored). :func:`escape_control`
makes each such character visible as a Python-style escape, so what a reader sees
is what is stored. Identities (who signed, their role) must be one line:
:func:`line_break_in` finds what to refuse.
"""

from __future__ import annotations

import unicodedata

__all__ = ["escape_control", "line_break_in"]

_BIDI = {chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x200E, 0x200F)}
_LINE_BREAKS = {"\n", "\r", "\v", "\f", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029"}


def _escape(char: str) -> str:
    named = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
    if char in named:
        return named[char]
    code = ord(char)
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def escape_control(text: str) -> str:
    """``text`` with control, format (bidi) and line-separator characters escaped.

    Backslashes are left as they are: harmless to a terminal, and a value already
    shown with ``repr`` is not escaped twice.
    """
    if text.isprintable():
        return text
    return "".join(
        _escape(c) if c in _BIDI or unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") else c
        for c in text
    )


def line_break_in(text: str) -> bool:
    """Whether ``text`` holds a line break of any kind (newline, CR, U+2028, ...)."""
    return any(c in _LINE_BREAKS for c in text)
