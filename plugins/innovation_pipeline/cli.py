"""``innovation-pipeline``: the command line a data engineer uses to try contracts and run things.

innovation-pipeline check programs/ky_local_labs.yml [--file SAMPLE]
innovation-pipeline draft SAMPLE_FILE --out programs/new_source.yml
innovation-pipeline reprocess ky_local_labs
innovation-pipeline preview programs/ky_local_labs.yml KY_LLL_001_2023-24.csv
innovation-pipeline load programs/ky_local_labs.yml KY_LLL_001_2023-24.csv
innovation-pipeline reference import nces_ccd_lea_directory.csv
innovation-pipeline demo [--samples DIR] | serve | airflow ARGS | dbt ARGS | warehouse start|stop|url

The sample submissions are written by the development package in samples/ (``innovation-samples``).

Kept as one module though it is long: one argument parser lists every command in ``--help``; each
command is a few lines that call the module doing the work.
"""

from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys
from pathlib import Path

from innovation_pipeline.contracts import ContractError, contract_paths, load_contract


def _cmd_check(args: argparse.Namespace) -> int:
    from innovation_pipeline.contract_check import check_contract

    paths = [_require_file(p) for p in args.contracts] or contract_paths()
    if args.file:
        _require_file(args.file)
    failed = 0
    for path in paths:
        try:
            contract = load_contract(path)
        except ContractError as exc:
            failed += 1
            print(f"INVALID {exc}")
            continue
        notes: list[str] = []
        problems = check_contract(contract, Path(args.file) if args.file else None, notes)
        for note in notes:
            print(f"        {path.name}: {note}")
        if problems:
            failed += 1
            print(f"INVALID {path.name}: would fail when loading\n" + "\n".join(f"  {p}" for p in problems))
            continue
        print(f"ok      {path.name}: {contract.title} ({len(contract.fields)} fields)")
    if not failed:
        failed += _check_transforms({p.resolve().parent for p in paths})
    return 1 if failed else 0


def _check_transforms(folders: set[Path]) -> int:
    """What only the contracts together can tell: measures defined, each program described once."""
    from innovation_pipeline.dbt_codegen import generated_files
    from innovation_pipeline.transform_spec import MeasureCatalogError

    failed = 0
    # Only a programs folder (with its measure catalog) holds every contract the checks need.
    for folder in sorted(f for f in folders if (f / "_measures.yml").exists()):
        try:
            generated_files(folder)
        except (MeasureCatalogError, ContractError) as exc:
            failed += 1
            print(f"INVALID {exc}")
    return failed


def _cmd_contracts(args: argparse.Namespace) -> int:
    from innovation_pipeline.dbt_codegen import sync_project

    result = sync_project(check_only=args.action == "check")
    for path in result.written:
        print(f"{'stale  ' if args.action == 'check' else 'wrote  '} {path}")
    for path in result.removed:
        print(f"{'extra  ' if args.action == 'check' else 'removed'} {path}")
    if not result.changed:
        print("the dbt project's generated files match the contracts")
    return 1 if args.action == "check" and result.changed else 0


def _cmd_preview(args: argparse.Namespace) -> int:
    from innovation_pipeline.preview import preview

    contract = load_contract(_require_file(args.contract))
    print(preview(contract, _require_file(args.file), rows=args.rows, sample=args.sample))
    return 0


def _cmd_draft(args: argparse.Namespace) -> int:
    from innovation_pipeline.draft import draft_contract

    text = draft_contract(_require_file(args.file), source=args.source, state=args.state)
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
        print(
            f"wrote {args.out}: edit it, then check it with `innovation-pipeline check {args.out} --file {args.file}`"
        )
    else:
        print(text)
    return 0


def _cmd_reprocess(args: argparse.Namespace) -> int:
    from innovation_pipeline.contracts import programs_dir
    from innovation_pipeline.reprocess import reprocess_source

    path = Path(args.contract) if args.contract else programs_dir() / f"{args.source}.yml"
    done = reprocess_source(load_contract(path))
    for item in done:
        print(item.summary())
    print(f"{len(done)} archived file(s) of {args.source} landed again")
    return 1 if any(item.result is None for item in done) else 0


def _cmd_load(args: argparse.Namespace) -> int:
    from innovation_pipeline.landing import FileRejected, land_file

    contract = load_contract(_require_file(args.contract))
    files = [_require_file(f) for f in args.files]
    status = 0
    for file in files:
        before = _last_submission_id()
        try:
            result = land_file(contract, file)
        except FileRejected as exc:
            print(f"REJECTED {exc}")
            status = 1
            continue
        if result.submission_id is not None and result.submission_id <= before:
            # The loader hands back the earlier outcome of this very delivery: a no-op.
            print(
                f"{file.name}: nothing changed: this file was already landed"
                f" (submission {result.submission_id}, {result.status})"
            )
        elif result.status == "duplicate":
            print(f"{file.name}: nothing changed: {result.message}")
        else:
            print(result.summary())
    return status


def _last_submission_id() -> int:
    """The newest submission id so far (0 before the first load)."""
    from innovation_pipeline.warehouse import connect

    with connect() as conn:
        if conn.execute("select to_regclass('audit.submissions')").fetchone()[0] is None:
            return 0
        row = conn.execute("select coalesce(max(submission_id), 0) from audit.submissions").fetchone()
    return int(row[0]) if row else 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from innovation_pipeline.demo import run_demo

    return run_demo(Path(args.samples) if args.samples else None)


def _cmd_warehouse(args: argparse.Namespace) -> int:
    from innovation_pipeline import warehouse

    if args.action == "prepare":
        from innovation_pipeline.warehouse_setup import prepare_warehouse

        tables = prepare_warehouse()
        print(f"warehouse prepared: {len(tables)} raw tables, dq tables, roles and grants")
        return 0
    if args.action == "stop":
        stopped = warehouse.stop_embedded()
        print("embedded warehouse stopped" if stopped else "embedded warehouse was not running")
        return 0
    parts = warehouse.connection_parts()
    if args.action == "url":
        # For tools (psql "$(innovation-pipeline warehouse url)"): the whole URL, password included.
        # What is shown to people (warehouse start, the demo) masks it.
        print(parts.url())
    elif args.action == "env":
        for key, value in warehouse.export_environment().items():
            print(f"export {key}={value!r}")
    else:
        with warehouse.connect(connect_timeout=30) as conn:
            version = conn.execute("show server_version").fetchone()
        print(f"warehouse ready (PostgreSQL {version[0] if version else '?'}): {parts.redacted()}")
    return 0


def _cmd_access(args: argparse.Namespace) -> int:
    from innovation_pipeline.access import (
        ensure_roles,
        publish_marts,
        report_scopes,
        set_report_scope,
        state_role,
    )
    from innovation_pipeline.warehouse import connect

    with connect(autocommit=True) as conn:
        ensure_roles(conn)
        for state in args.state_roles:
            print(f"state-scoped role: {state_role(conn, state.upper(), args.base)}")
        for user, states in args.report_viewers:
            set_report_scope(conn, user, states)
        published = publish_marts(conn)
        scopes = report_scopes(conn)
    print(
        f"roles ready; {len(published)} mart tables published with row-level security where they carry a state"
    )
    for user, states in sorted(scopes.items()):
        print(f"Airflow user {user!r} sees the data-quality report of {', '.join(sorted(states))} only")
    if args.report_viewers:
        print(
            "the scoped reports are written by the next build_marts run (or: python -m innovation_pipeline.dq report)"
        )
    return 0


def _report_viewer(value: str) -> tuple[str, list[str]]:
    user, sep, states = value.partition("=")
    if not sep or not user.strip():
        raise argparse.ArgumentTypeError(f"{value!r}: expected USER=ST[,ST...], e.g. officer_co=CO")
    codes = [s.strip() for s in states.split(",") if s.strip()]
    return user.strip(), [_state_code(c) for c in codes]


def _exec_with_env(argv: list[str], extra: dict[str, str] | None = None) -> int:
    from innovation_pipeline.settings import airflow_environment

    env = {**os.environ, **airflow_environment(), **(extra or {})}
    Path(env["AIRFLOW_HOME"]).mkdir(parents=True, exist_ok=True)
    return subprocess.call(argv, env=env)


def _cmd_airflow(args: argparse.Namespace) -> int:
    airflow = Path(sys.executable).with_name("airflow")
    return _exec_with_env([str(airflow), *args.rest])


def _cmd_serve(args: argparse.Namespace) -> int:
    from innovation_pipeline.orchestration.local_airflow import run

    return run(args.port)


def _cmd_dbt(args: argparse.Namespace) -> int:
    from innovation_pipeline.dbt_codegen import sync_project
    from innovation_pipeline.orchestration.dbt_project import dbt_executable
    from innovation_pipeline.settings import dbt_project_dir

    sync_project()  # the models generated from the contracts, as before every marts build
    project = str(dbt_project_dir())
    # dbt reads its project and profiles folders from these, wherever it is run from.
    extra = {
        "DBT_PROJECT_DIR": project,
        "DBT_PROFILES_DIR": project,
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }
    return _exec_with_env([dbt_executable(), *args.rest], extra)


def _state_code(value: str) -> str:
    if len(value) != 2 or not value.isalpha():
        raise argparse.ArgumentTypeError(f"{value!r} is not a two-letter state code (such as CO)")
    return value.upper()


def _cmd_sqlfluff(args: argparse.Namespace) -> int:
    from innovation_pipeline.settings import dbt_project_dir

    sqlfluff = Path(sys.executable).with_name("sqlfluff")
    project = dbt_project_dir()
    return _exec_with_env([str(sqlfluff), *args.rest, str(project / "models"), str(project / "macros")])


def _cmd_reference(args: argparse.Namespace) -> int:
    from innovation_pipeline.crosswalk import reference_dir
    from innovation_pipeline.reference import import_directory

    folder = Path(args.out) if args.out else reference_dir()
    districts, aliases = import_directory(Path(args.file), folder)
    print(f"wrote {districts} districts and {aliases} aliases to {folder}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="innovation-pipeline", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="log what happens; show tracebacks")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("check", help="validate contracts (all of programs/ by default)")
    p.add_argument("contracts", nargs="*", help="contract files (default: every one in programs/)")
    p.add_argument("--file", help="a sample file: check its header, rule columns and markers too")
    p.set_defaults(func=_cmd_check)

    p = sub.add_parser(
        "contracts", help="write (sync) or compare (check) the dbt files generated from the contracts"
    )
    p.add_argument(
        "action", choices=["sync", "check"], help="sync writes them; check exits 1 if any is stale"
    )
    p.set_defaults(func=_cmd_contracts)

    p = sub.add_parser(
        "preview", help="load a file and roll back: the counts load would record, every problem"
    )
    p.add_argument("contract", help="the contract file, e.g. programs/ky_local_labs.yml")
    p.add_argument("file", help="the submission file to try")
    p.add_argument("--rows", type=int, default=10, help="rows to show as they would land")
    p.add_argument("--sample", type=int, default=None, help="map only the first N data rows (quick look)")
    p.set_defaults(func=_cmd_preview)

    p = sub.add_parser("draft", help="write a first contract from a sample file")
    p.add_argument("file", help="a sample submission file (CSV, Excel or JSON)")
    p.add_argument("--out", help="where to write it (default: print it)")
    p.add_argument("--source", help="source id (default: from the file name)")
    p.add_argument("--state", help="two-letter state (default: guessed from the file)")
    p.set_defaults(func=_cmd_draft)

    p = sub.add_parser("load", help="land files through a contract, as the DAGs do")
    p.add_argument("contract", help="the contract file, e.g. programs/ky_local_labs.yml")
    p.add_argument("files", nargs="+", help="submission files, landed in the order given")
    p.set_defaults(func=_cmd_load)

    p = sub.add_parser("reprocess", help="land a source's archived files again under its current contract")
    p.add_argument("source", help="the source id, e.g. ky_local_labs")
    p.add_argument("--contract", help="contract file (default: programs/SOURCE.yml)")
    p.set_defaults(func=_cmd_reprocess)

    p = sub.add_parser("reference", help="rebuild the real district directory from an NCES CCD LEA file")
    p.add_argument("action", choices=["import"], help="import: write the directory from FILE")
    p.add_argument(
        "file", help="NCES CCD LEA directory CSV (ST, LEAID, ST_LEAID, LEA_NAME, LEA_TYPE_TEXT...)"
    )
    p.add_argument("--out", help="folder to write (default: programs/reference)")
    p.set_defaults(func=_cmd_reference)

    p = sub.add_parser(
        "demo",
        help="run the whole pipeline on sample submissions already written (make demo writes them first)",
    )
    p.add_argument(
        "--samples", help="folder `innovation-samples generate` wrote (default: <data folder>/samples)"
    )
    p.set_defaults(func=_cmd_demo)

    p = sub.add_parser("warehouse", help="start, stop or locate the warehouse")
    p.add_argument(
        "action",
        choices=["start", "stop", "url", "env", "prepare"],
        help="start: start it and connect; stop: stop the embedded server; url: the connection URL"
        " (password included, for psql); env: shell exports of its settings; prepare: tables and roles",
    )
    p.set_defaults(func=_cmd_warehouse)

    p = sub.add_parser("access", help="create roles, grants and row-level security (idempotent)")
    p.add_argument(
        "--state-role",
        dest="state_roles",
        action="append",
        default=[],
        metavar="ST",
        type=_state_code,
        help="also create a role that sees only this state's rows (repeatable), e.g. CO",
    )
    p.add_argument(
        "--base",
        default="pipeline_analyst",
        choices=["pipeline_analyst", "pipeline_officer"],
        help="the role the state-scoped roles are members of (default pipeline_analyst)",
    )
    p.add_argument(
        "--report-viewer",
        dest="report_viewers",
        action="append",
        default=[],
        metavar="USER=ST[,ST]",
        type=_report_viewer,
        help="show the Airflow user USER only these states' data-quality report (repeatable);"
        " USER= with no state removes the scope",
    )
    p.set_defaults(func=_cmd_access)

    p = sub.add_parser(
        "serve", help="run Airflow (API server, scheduler, DAG processor, triggerer) until Ctrl-C"
    )
    p.add_argument(
        "--port", type=int, default=None, help="port of the UI (default 8080, or AIRFLOW__API__PORT)"
    )
    p.set_defaults(func=_cmd_serve)

    for name, func, text in (
        ("airflow", _cmd_airflow, "run an airflow command with the project's settings"),
        ("dbt", _cmd_dbt, "run a dbt command on the project, with its profile and the warehouse's settings"),
        ("sqlfluff", _cmd_sqlfluff, "run sqlfluff on the dbt project"),
    ):
        p = sub.add_parser(name, help=text)
        p.add_argument("rest", nargs=argparse.REMAINDER, help=f"the arguments of the {name} command")
        p.set_defaults(func=func)
    return parser


class UsageError(Exception):
    """A mistake in what the user asked for, said in one line (no traceback)."""


def _require_file(path: str) -> Path:
    """The path of an input file, or a one-line error naming it when it is not there."""
    file = Path(path)
    if not file.exists():
        raise UsageError(f"no such file: {path}")
    if not file.is_file():
        raise UsageError(f"not a file: {path}")
    return file


def describe_error(exc: BaseException) -> str:
    """One line for an error a user can fix: which file, which setting, what went wrong."""
    import psycopg

    if isinstance(exc, UsageError | ContractError):
        return str(exc)
    if isinstance(exc, PermissionError):
        return f"permission denied: {exc.filename or exc}"
    if isinstance(exc, FileNotFoundError):
        return f"no such file or folder: {exc.filename or exc}"
    if isinstance(exc, IsADirectoryError | NotADirectoryError):
        return f"not a file: {exc.filename or exc}"
    if isinstance(exc, psycopg.OperationalError):
        from innovation_pipeline.warehouse import parse_url

        url = os.environ.get("WAREHOUSE_URL")
        where = parse_url(url).redacted() if url else "the embedded warehouse"
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return f"cannot reach the warehouse ({where}): {first}"
    return f"{type(exc).__name__}: {exc}"


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(message)s"
    )
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        if args.verbose:
            raise
        print(f"innovation-pipeline {args.command}: {describe_error(exc)}", file=sys.stderr)
        if not isinstance(exc, UsageError | ContractError | OSError):
            print("(run with -v for the full traceback)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
