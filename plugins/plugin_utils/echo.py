"""Quote user input in an error message without echoing all of it.

A filter's input can be a secret pasted into the wrong variable or megabytes of data: a message
shows at most ``ECHO_LIMIT`` characters of it, the start, so the place is still recognisable.
"""

from __future__ import annotations

import reprlib
from typing import Any

ECHO_LIMIT = 40

_REPR = reprlib.Repr()
_REPR.maxlevel = 2
_REPR.maxstring = ECHO_LIMIT + 2
_REPR.maxother = ECHO_LIMIT + 2
_REPR.maxlong = ECHO_LIMIT + 2


def clip(text: str) -> str:
    """``text`` cut to ``ECHO_LIMIT`` characters, ``...`` marking a cut."""
    return text if len(text) <= ECHO_LIMIT else text[: ECHO_LIMIT - 3] + "..."


def echo(value: Any) -> str:
    """``repr(value)`` cut to ``ECHO_LIMIT`` characters (never the whole of a long input)."""
    if isinstance(value, str):
        return clip(repr(value[: ECHO_LIMIT + 1]))
    try:
        return clip(_REPR.repr(value))
    except Exception:
        return f"<{type(value).__name__}>"


def reason(exc: Exception, value: Any) -> str:
    """An exception's message with the input it quotes taken out, cut to a short line."""
    text = str(exc)
    if isinstance(value, str) and value:
        text = text.replace(repr(value), "it").replace(value, "it")
    return text if len(text) <= 2 * ECHO_LIMIT else text[: 2 * ECHO_LIMIT - 3] + "..."
