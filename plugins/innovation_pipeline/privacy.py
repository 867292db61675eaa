"""Student identifiers: replaced at landing by a keyed hash and masked wherever people read."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable

MASK = "[student identifier withheld]"


def pseudonymize(values: Iterable[str | None], key: bytes) -> list[str | None]:
    """HMAC-SHA-256 of each identifier: the same student gets the same pseudonym across files
    and years (so distinct counts stay right), and without the key it cannot be reversed."""
    out: list[str | None] = []
    for value in values:
        if value is None:
            out.append(None)
            continue
        canonical = value.strip().upper()
        out.append(
            hmac.new(key, canonical.encode("utf-8"), hashlib.sha256).hexdigest() if canonical else None
        )
    return out


def neutralize_formula(text: str | None) -> str | None:
    """Prefix text a spreadsheet would run as a formula (=, +, -, @, tab, CR) with a quote."""
    if text and text[0] in "=+-@\t\r" and not _is_plain_number(text):
        return "'" + text
    return text


def _is_plain_number(text: str) -> bool:
    try:
        float(text.replace(",", ""))
    except ValueError:
        return False
    return True
