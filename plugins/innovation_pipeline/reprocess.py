"""Re-land a source's archived files under its current contract and directory.

After a contract or directory change (a marker added, a district alias, a fixed rule), every
file the source has received is landed again from the archive, each as a new submission that
supersedes the version it replaces; the earlier versions and their quarantine stay as history.
The files re-landed are the current version of each (submitter, school year) and every file that
was rejected and never loaded, in the order they were first received, so a rejected correction
that now loads becomes current as it would have then.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from innovation_pipeline.contracts import Contract
from innovation_pipeline.landing import FileRejected, LandingResult, ensure_landing_schema, land_file
from innovation_pipeline.warehouse import connect


@dataclass
class Reprocessed:
    file_name: str
    replaced: int
    result: LandingResult | None
    error: str | None = None

    def summary(self) -> str:
        if self.result is None:
            return f"{self.file_name}: still rejected: {self.error}"
        return f"{self.result.summary()}; replaces submission {self.replaced}"


def files_to_reprocess(contract: Contract) -> list[tuple[int, str, Path, dt.datetime]]:
    """(submission id, file name, archived path, received at) of each file to land again."""
    with connect(autocommit=True) as conn:
        ensure_landing_schema(conn)
        rows = conn.execute(
            """
            select s.submission_id, s.file_name, f.archive_path, s.received_at
            from audit.submissions s join audit.files f using (file_sha256)
            where s.source = %(source)s and (
                s.status = 'loaded'
                or (s.status = 'rejected' and not exists (
                    select 1 from audit.submissions l
                    where l.source = s.source and l.file_sha256 = s.file_sha256
                      and l.status in ('loaded', 'superseded')))
            )
            order by s.received_at, s.submission_id
            """,
            {"source": contract.source},
        ).fetchall()
    return [(r[0], r[1], Path(r[2]), r[3]) for r in rows]


def reprocess_source(contract: Contract) -> list[Reprocessed]:
    """Land every current or rejected archived file of ``contract``'s source again."""
    done = []
    for sub_id, name, archived, received_at in files_to_reprocess(contract):
        try:
            result = land_file(
                contract, archived, original_name=name, received_at=received_at, reprocess=True
            )
        except FileRejected as exc:
            done.append(Reprocessed(name, sub_id, None, str(exc)))
            continue
        done.append(Reprocessed(name, sub_id, result))
    return done
