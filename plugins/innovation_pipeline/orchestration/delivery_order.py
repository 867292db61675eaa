"""Which deliveries of a source must land before a file: the same bytes, or the same submission.

An inbox listing is in arrival order, and which of two deliveries counts (the loaded one and the
duplicate, the superseded one and its correction) follows landing order. The land tasks of a run
may run in any order and in parallel, so each lands the earlier related deliveries first.
"""

from __future__ import annotations

from typing import Any

from innovation_pipeline.contracts import Contract


def submission_key(contract: Contract, name: str) -> tuple[str, int] | None:
    """(submitter, school year) as the file name gives them, or None when the name does not tell.

    Two files with the same key are the same submission delivered twice, or a correction of it.
    """
    from innovation_pipeline.mapping import filename_school_year

    match = contract.matches_file(name)
    if match is None or contract.school_year.source != "filename":
        return None
    groups = match.groupdict()
    try:
        year = filename_school_year(contract, groups.get("school_year"))
    except Exception:  # an unreadable year: the loader rejects the file, with the reason
        return None
    if year is None:
        return None
    return ((groups.get("submitter") or "").lower(), year)


SubmissionKeys = dict[str, "tuple[str, int] | None"]


def submission_keys(contract: Contract, files: list[dict[str, Any]]) -> SubmissionKeys:
    """:func:`submission_key` of every file of a listing, by name.

    A land task computes them once for its batch: :func:`earlier_related` looks at the whole
    listing for each file, and reading every name again for every file made a batch of a hundred
    files parse ten thousand names.
    """
    return {f["name"]: submission_key(contract, f["name"]) for f in files}


def earlier_related(
    contract: Contract,
    file: dict[str, Any],
    files: list[dict[str, Any]],
    keys: SubmissionKeys | None = None,
) -> list[dict[str, Any]]:
    """Files listed before ``file`` in this run that must land before it.

    The listing is in arrival order, and which of two deliveries counts (the loaded one and the
    duplicate, or the superseded one and its correction) follows landing order. File tasks may run
    in any order (and in parallel), so a file task first lands the earlier deliveries of the same
    bytes or the same submission; the loader makes landing a delivery twice a no-op. ``keys``:
    :func:`submission_keys` of ``files``, when the caller has them.
    """
    keys = keys if keys is not None else submission_keys(contract, files)
    key = keys[file["name"]] if file["name"] in keys else submission_key(contract, file["name"])
    earlier = []
    for other in files:
        if other["name"] == file["name"] and other["sha256"] == file["sha256"]:
            break
        other_key = keys[other["name"]]
        if other["sha256"] == file["sha256"] or key is None or other_key is None or other_key == key:
            earlier.append(other)
    return earlier
