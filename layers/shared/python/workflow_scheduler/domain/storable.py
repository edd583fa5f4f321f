"""Which text the API can keep: PostgreSQL ``text``/``JSONB`` cannot hold NUL, and a lone UTF-16 surrogate
(``"\\ud800"`` in JSON) is not a character at all, so it cannot be encoded as UTF-8 to store or forward.

Every string of an API body, keys included, is checked at the door so such text is a 422 naming the field,
never a 500 from the database or the encoder later on.
"""

from __future__ import annotations

import re
from typing import Any

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
MAX_SEGMENT = 64
MAX_FIELD = 256


def unstorable_reason(text: str) -> str | None:
    """Why ``text`` cannot be stored, or None when it can."""
    found = _UNSTORABLE.search(text)
    if found is None:
        return None
    if found.group() == "\x00":
        return "contains a NUL character (\\u0000), which cannot be stored"
    return "contains a lone UTF-16 surrogate, which is not valid Unicode"


def field_segment(part: object) -> str:
    """One segment of a field path built from a caller's key: printable and short, so an error never echoes
    a long key (or a value pasted into a key) back."""
    text = str(part)
    cleaned = "".join(ch if ch.isprintable() else "?" for ch in text)  # NUL and surrogates are not printable
    return cleaned if len(cleaned) <= MAX_SEGMENT else cleaned[: MAX_SEGMENT - 1] + "…"


def field_path(parts: tuple[object, ...], root: str = "body") -> str:
    """``root.a.2.c`` from location parts (ints are list indexes), sanitized and at most ``MAX_FIELD`` chars."""
    path = ".".join([*([root] if root else []), *(field_segment(part) for part in parts)]) or "body"
    return path if len(path) <= MAX_FIELD else path[: MAX_FIELD - 1] + "…"


def first_unstorable(value: Any, root: str = "body") -> tuple[str, str] | None:
    """The field path and reason of the first string (or key) that cannot be stored; None when all can."""
    stack: list[tuple[Any, tuple[object, ...]]] = [(value, ())]
    while stack:
        item, where = stack.pop()
        if isinstance(item, str):
            reason = unstorable_reason(item)
            if reason:
                return field_path(where, root), reason
        elif isinstance(item, dict):
            for key, child in reversed(item.items()):
                reason = unstorable_reason(key)
                if reason:
                    return field_path((*where, key), root), f"has a key that {reason}"
                stack.append((child, (*where, key)))
        elif isinstance(item, list):
            stack.extend((child, (*where, index)) for index, child in reversed(list(enumerate(item))))
    return None
