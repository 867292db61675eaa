"""The file name a submitter should use, read from the contract's ``file.pattern``.

Officers tell a district "send the corrected file as KY_LLL_005_2024-25.csv", not "match
``^KY_LLL_(?P<submitter>\\d{3})_...$``". The example is built by walking the regex: literals as
written, the ``submitter`` and ``school_year`` groups filled with the submission's values, optional
parts left out, and any other class or wildcard filled with a plain character of that class.
"""

from __future__ import annotations

import re
import re._constants as sre_constants  # the parser's opcodes (sre_constants is deprecated)
import re._parser as sre_parse
from typing import Any

_DIGIT = {sre_constants.CATEGORY_DIGIT}
_WORD = {sre_constants.CATEGORY_WORD}


def _class_char(items: list[tuple[Any, Any]]) -> str:
    """One character an ``[...]`` class accepts (a negated class gets a letter it is unlikely to ban)."""
    if items and items[0][0] is sre_constants.NEGATE:
        banned = {chr(v) for op, v in items[1:] if op is sre_constants.LITERAL}
        return next(c for c in "x0a1" if c not in banned)
    for op, value in items:
        if op is sre_constants.LITERAL:
            return chr(value)
        if op is sre_constants.RANGE:
            return chr(value[0])
        if op is sre_constants.CATEGORY:
            return "0" if value in _DIGIT else "a" if value in _WORD else " "
    return "x"


def _render(tree: Any, names: dict[int, str], fill: dict[str, str]) -> str:
    out = []
    for op, value in tree:
        if op is sre_constants.LITERAL:
            out.append(chr(value))
        elif op is sre_constants.NOT_LITERAL or op is sre_constants.ANY:
            out.append("x")
        elif op is sre_constants.IN:
            out.append(_class_char(list(value)))
        elif op is sre_constants.CATEGORY:
            out.append(_class_char([(op, value)]))
        elif op is sre_constants.BRANCH:
            out.append(_render(value[1][0], names, fill))
        elif op is sre_constants.SUBPATTERN:
            group, _add, _del, sub = value
            name = names.get(group) if group is not None else None
            out.append(fill[name] if name in fill else _render(sub, names, fill))
        elif op in (sre_constants.MAX_REPEAT, sre_constants.MIN_REPEAT, sre_constants.POSSESSIVE_REPEAT):
            low, _high, sub = value
            out.append(_render(sub, names, fill) * low)  # optional parts (low 0) are left out
        # anchors (AT), lookarounds and back references add no characters
    return "".join(out)


def example_name(pattern: str, submitter: str | None = None, school_year: str | None = None) -> str:
    """A file name that matches ``pattern``, with the given submitter and school year where they fit."""
    compiled = re.compile(pattern, re.IGNORECASE)
    names = {index: name for name, index in compiled.groupindex.items()}
    tree = sre_parse.parse(pattern)
    # Keep a value only if the name it gives still matches: a pattern may want '2025' where the
    # report says '2024-25'.
    fill: dict[str, str] = {}
    for key, value in (("submitter", submitter), ("school_year", school_year)):
        if value and key in compiled.groupindex:
            trial = _render(tree, names, {**fill, key: value})
            if compiled.match(trial):
                fill[key] = value
    return _render(tree, names, fill)


def school_year_spellings(year: int) -> list[str]:
    """The ways a file name may write a school year, most readable first: 2024-25, 2023-2024, 2025."""
    return [f"{year - 1}-{str(year)[-2:]}", f"{year - 1}-{year}", str(year), f"SY{year}"]


def expected_name(
    pattern: str, file_name: str | None, submitter_code: str | None, school_year: int | None
) -> str:
    """The name a corrected file should have: the received name when it already fits the rule,
    else an example built from the rule with this submitter and school year."""
    compiled = re.compile(pattern, re.IGNORECASE)
    if file_name and compiled.match(file_name):
        return file_name
    if school_year is None:
        return example_name(pattern, submitter_code)
    for spelling in school_year_spellings(school_year):
        name = example_name(pattern, submitter_code, spelling)
        found = compiled.match(name)
        if found and "school_year" in compiled.groupindex and found.group("school_year") == spelling:
            return name
    return example_name(pattern, submitter_code)
