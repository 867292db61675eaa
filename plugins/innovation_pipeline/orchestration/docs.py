"""Markdown shown on each DAG's page in the Airflow UI, written from the contract."""

from __future__ import annotations

from innovation_pipeline import settings
from innovation_pipeline.contracts import Contract
from innovation_pipeline.orchestration import config
from innovation_pipeline.orchestration.due import due_text


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def ingest_doc(contract: Contract) -> str:
    """The ingest DAG's documentation: what arrives, where, in what layout, and when it is due."""
    inbox = settings.inbox_url().rstrip("/") + f"/{contract.source}/"
    fields = "\n".join(
        f"| `{f.name}` | {f.type} | {_cell(', '.join(f.sources))} | {'yes' if f.required else 'no'} "
        f"| {'yes' if f.suppressible else ''} | {_cell(f.description or '')} |"
        for f in contract.fields
    )
    return f"""# {contract.title}

{contract.description.strip() or contract.entity}

| | |
| --- | --- |
| source | `{contract.source}` (`programs/{contract.source}.yml`) |
| state / program | {contract.state} / `{contract.program}` ({contract.kind}) |
| one row is | {_cell(contract.entity)} |
| submitted by | {contract.submitter} |
| file | {contract.file.format}, name matching `{_cell(contract.file.pattern)}` |
| inbox | `{inbox}` |
| lands in | `raw.{contract.raw_table}`, one row per data row; rejected rows in `audit.quarantine` |
| natural key | {", ".join(f"`{k}`" for k in contract.natural_key)} |
| due | {due_text(contract)} |
| updates | Asset `warehouse://raw/{contract.source}`, which triggers `{config.MARTS_DAG_ID}` |

## What a run does

1. **List new files**: files in the inbox whose SHA-256 no submission of this source has recorded.
2. **Land files** (one task per batch of up to `PIPELINE_LOAD_BATCH_FILES` files, named by its
   first and last file): each file archived by SHA-256, valid rows loaded, the others quarantined
   with a reason, the submission recorded; each file's outcome in the task's log and XCom. A
   rejected file is recorded with the reason in `audit.task_failures` and the batch goes on;
   **Rejected files** then fails, naming each one.
3. **Validate landed rows (GX)** on this run's loaded submissions.
4. **Publish raw asset** when anything loaded (skipped otherwise, so the marts are not rebuilt for nothing).
5. **Check due date**: logs a warning when the latest due school year has nothing received, or a
   submitter of the year before has not sent its file.

Rerunning is safe: the same bytes are never loaded twice, and a corrected file supersedes the
earlier one of the same submitter and school year. To (re)load a past school year, drop its files
in the inbox and trigger the DAG.

**Reprocess run**: after a change to this contract or to the district directory, trigger the DAG
with the parameter *Reprocess the archive* ticked (`{{"reprocess": true}}`). Instead of the inbox,
the task **Reprocess archived files** lands every archived file of this source again, in the order
they were received: the current version of each submission and every file that was rejected and
never loaded. Each becomes a new version that supersedes the old one, whose rows and quarantine
stay as history; rows quarantined before are replayed under the new rules. Validation, the raw
Asset and the marts follow as after any run. `innovation-pipeline reprocess {contract.source}` does
the same from a shell.

## Fields

| field | type | source column(s) | required | suppressible | description |
| --- | --- | --- | --- | --- | --- |
{fields}
"""


def marts_doc(sources: list[str], load_mode: str) -> str:
    """The marts DAG's documentation."""
    listed = ", ".join(f"`{s}`" for s in sources) or "(no contracts)"
    tests = (
        "each model's tests right after it, and each test spanning several models after all of them"
        if config.dbt_test_behavior() == "after_each"
        else "one task running every data and unit test; `PIPELINE_DBT_TEST_BEHAVIOR=after_each` gives each model its own test task"
    )
    return f"""# Cross-state marts

Rebuilds the comparison marts whenever any raw table changes: it runs on the raw Assets of
{listed} (any one of them).

1. **dbt** (Cosmos task group): seeds, source freshness checks and every model, each its own
   task in dependency order, then the dbt tests ({tests}). The project is `dbt_project/`; the graph
   is read from {load_mode}.
2. **Validate marts (GX)**: a failed expectation fails the run, so the marts Asset is not updated
   and nothing downstream takes the marts as fresh.
3. **Publish marts asset** `{config.MARTS_ASSET_URI}`.
4. **Checks recorded** (always, even after a failure): updates `{config.MARTS_CHECKED_URI}`, which
   starts `{config.DOCS_DAG_ID}` (dbt docs, GX Data Docs, the data-quality report).
"""


def docs_dag_doc() -> str:
    """The docs DAG's documentation."""
    return f"""# Docs and the data-quality report

Runs after every `{config.MARTS_DAG_ID}` run, whatever its outcome (the Asset
`{config.MARTS_CHECKED_URI}`), so a failed build shows in the report too:

- **dbt docs**: `dbt docs generate`, published as one offline page in `{settings.output_dir()}/dbt_docs`.
- **GX Data Docs**: the validation results of the landings and marts not rendered yet.
- **Data-quality report**: the program officers' report in `{settings.output_dir()}/report`.

They are outside the build's run because they take longer than the build's own checks, and
nothing waits on them.
"""
