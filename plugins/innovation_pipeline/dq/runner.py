"""Run a suite through Great Expectations 1.x (Checkpoint API) against the warehouse, as SQL.

Each call builds an ephemeral GX context: suites come from ``expectations/`` (see ``suites``), the
datasource from ``warehouse.sqlalchemy_url()``; validation results are kept as files under
``output_dir()/gx/validations`` and rendered into Data Docs at ``output_dir()/data_docs`` by the
validator (``Validator.update_data_docs``). A context per call keeps parallel Airflow tasks from sharing
(and racing on) a ``great_expectations.yml``.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from innovation_pipeline import settings
from innovation_pipeline.contracts import Contract
from innovation_pipeline.dq import catalog, masking
from innovation_pipeline.dq.suites import SuiteSpec
from innovation_pipeline.warehouse import sqlalchemy_url

log = logging.getLogger(__name__)

# GX substitutes ${...} from the environment, which keeps the URL (and any password) out of GX's config
# and lets a unix-socket URL (host in the query string) pass PostgresDatasource's validation.
URL_VARIABLE = "INNOVATION_PIPELINE_GX_WAREHOUSE_URL"
DATASOURCE = "warehouse"
MAX_EXAMPLES = 5
# COMPLETE: UnexpectedRowsExpectation only returns its (GX-capped) example rows in this format.
RESULT_FORMAT = {
    "result_format": "COMPLETE",
    "partial_unexpected_count": MAX_EXAMPLES,
    # Failing rows are identified by their row number in the submitted file, never by a student.
    "unexpected_index_column_names": ["_source_row"],
    "return_unexpected_index_query": False,
}
MART_RESULT_FORMAT = {
    "result_format": "COMPLETE",
    "partial_unexpected_count": MAX_EXAMPLES,
    "return_unexpected_index_query": False,
}


def data_docs_dir() -> Path:
    return settings.output_dir() / "data_docs"


def validations_dir() -> Path:
    return settings.output_dir() / "gx" / "validations"


@dataclass
class ExpectationOutcome:
    """One evaluated expectation, already masked and explained in plain words."""

    expectation_type: str
    check_id: str
    column_name: str | None
    success: bool
    observed_value: str | None
    element_count: int | None
    unexpected_count: int | None
    unexpected_percent: float | None
    description: str
    message: str | None
    kwargs: dict[str, Any]
    exception_message: str | None
    examples: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class SuiteOutcome:
    """A whole validation: its statistics and every expectation's outcome."""

    suite_name: str
    asset_name: str
    success: bool
    evaluated: int
    successful: int
    unsuccessful: int
    gx_result_id: str | None
    results: list[ExpectationOutcome]
    error_message: str | None = None


def _context() -> Any:
    import great_expectations as gx
    from great_expectations.data_context.types.base import DataContextConfig, ProgressBarsConfig

    def memory(class_name: str) -> dict[str, Any]:
        return {"class_name": class_name, "store_backend": {"class_name": "InMemoryStoreBackend"}}

    def files(class_name: str, folder: Path) -> dict[str, Any]:
        return {
            "class_name": class_name,
            "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(folder)},
        }

    config = DataContextConfig(
        stores={
            "expectations_store": memory("ExpectationsStore"),
            "validation_definition_store": memory("ValidationDefinitionStore"),
            "checkpoint_store": memory("CheckpointStore"),
            "validation_results_store": files("ValidationResultsStore", validations_dir()),
        },
        expectations_store_name="expectations_store",
        validation_results_store_name="validation_results_store",
        checkpoint_store_name="checkpoint_store",
        data_docs_sites={
            "local_site": {
                "class_name": "SiteBuilder",
                "show_how_to_buttons": False,
                "store_backend": {
                    "class_name": "TupleFilesystemStoreBackend",
                    "base_directory": str(data_docs_dir()),
                },
                "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
            }
        },
        analytics_enabled=False,
        progress_bars=ProgressBarsConfig(globally=False),
    )
    os.environ[URL_VARIABLE] = sqlalchemy_url()
    context = gx.get_context(mode="ephemeral", project_config=config)
    context.data_sources.add_postgres(DATASOURCE, connection_string="${" + URL_VARIABLE + "}")
    return context


def _gx_suite(spec: SuiteSpec) -> Any:
    import great_expectations as gx
    from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

    expectations = [
        ExpectationConfiguration(
            type=e["type"],
            kwargs=e.get("kwargs", {}),
            meta=e.get("meta") or {},
            description=e.get("description"),
        ).to_domain_obj()
        for e in spec.expectations
    ]
    return gx.ExpectationSuite(
        name=spec.name, expectations=expectations, meta={"innovation_pipeline": spec.meta}
    )


class Validator:
    """One GX context for a batch of validations (building the context costs more than a run)."""

    def __init__(self) -> None:
        self.context = _context()
        self._checkpoints: dict[str, Any] = {}
        self._new_results: list[Any] = []

    def checkpoint(self, spec: SuiteSpec) -> Any:
        """The checkpoint for a suite: table asset, batch definition, validation definition, docs action."""
        if spec.name in self._checkpoints:
            return self._checkpoints[spec.name]
        import great_expectations as gx
        from great_expectations.core.partitioners import PartitionerColumnValue

        datasource = self.context.data_sources.get(DATASOURCE)
        asset = datasource.add_table_asset(
            spec.name, table_name=spec.meta["table"], schema_name=spec.meta["schema"]
        )
        partition = spec.meta.get("partition_column")
        if partition:
            # One batch per submission: GX adds "where _submission_id = :value" to every metric query.
            batch_definition = asset.add_batch_definition(
                "by_submission",
                partitioner=PartitionerColumnValue(column_name=partition),
                validate_partitioner=False,
            )
        else:
            batch_definition = asset.add_batch_definition_whole_table("whole_table")
        suite = self.context.suites.add(_gx_suite(spec))
        definition = self.context.validation_definitions.add(
            gx.ValidationDefinition(name=spec.name, data=batch_definition, suite=suite)
        )
        checkpoint = self.context.checkpoints.add(
            gx.Checkpoint(
                # No UpdateDataDocsAction: rendering costs about a second per run, so update_data_docs()
                # renders all of a batch's results once at the end instead.
                name=spec.name,
                validation_definitions=[definition],
                actions=[],
                # Marts have no _source_row; landing failures are located by the file's row number.
                result_format=RESULT_FORMAT if partition else MART_RESULT_FORMAT,
            )
        )
        self._checkpoints[spec.name] = checkpoint
        return checkpoint

    def run(
        self,
        spec: SuiteSpec,
        batch_parameters: dict[str, Any] | None = None,
        expectation_parameters: dict[str, Any] | None = None,
        contract: Contract | None = None,
    ) -> SuiteOutcome:
        """Validate one batch; a failure to run at all is returned as an unsuccessful outcome, not raised."""
        asset_name = f"{spec.meta['schema']}.{spec.meta['table']}"
        try:
            checkpoint = self.checkpoint(spec)
            result = checkpoint.run(
                batch_parameters=batch_parameters, expectation_parameters=expectation_parameters
            )
        except Exception as exc:  # the table is missing, the database is down, a suite is malformed
            log.exception("validation %s could not run", spec.name)
            return _error_outcome(spec, asset_name, exc)
        (identifier, validation), *_ = result.run_results.items()
        self._new_results.append(identifier)
        stats = validation.statistics
        outcomes = [_outcome(r, contract) for r in validation.results]
        return SuiteOutcome(
            suite_name=spec.name,
            asset_name=asset_name,
            success=bool(validation.success),
            evaluated=int(stats.get("evaluated_expectations") or 0),
            successful=int(stats.get("successful_expectations") or 0),
            unsuccessful=int(stats.get("unsuccessful_expectations") or 0),
            # The Data Docs page of this run is data_docs/validations/<gx_result_id>.html.
            gx_result_id="/".join(str(p) for p in identifier.to_tuple()),
            results=outcomes,
        )

    def update_data_docs(self) -> Path | None:
        """Render this validator's new results (and the index) into the Data Docs folder."""
        if not self._new_results:
            return None
        try:
            self.context.build_data_docs(resource_identifiers=self._new_results)
        except Exception:  # Data Docs are for engineers; a rendering bug must not fail a load
            log.exception("could not update the GX Data Docs")
            return None
        self._new_results = []
        return data_docs_dir() / "index.html"


def _error_outcome(spec: SuiteSpec, asset_name: str, exc: BaseException) -> SuiteOutcome:
    detail = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"[:500]
    explained = catalog.explain_check("validation_error", {"observed": detail})
    outcome = ExpectationOutcome(
        expectation_type="validation_error",
        check_id="validation_error",
        column_name=None,
        success=False,
        observed_value=detail,
        element_count=None,
        unexpected_count=None,
        unexpected_percent=None,
        description=explained.meaning,
        message=explained.message,
        kwargs={},
        exception_message=detail,
    )
    return SuiteOutcome(spec.name, asset_name, False, 1, 0, 1, None, [outcome], error_message=detail)


def _column_of(kwargs: dict[str, Any], meta: dict[str, Any]) -> str | None:
    if meta.get("column"):
        return str(meta["column"])
    if kwargs.get("column"):
        return str(kwargs["column"])
    for key in ("column_list", "column_A"):
        if kwargs.get(key):
            cols = kwargs[key] if isinstance(kwargs[key], list) else [kwargs[key], kwargs.get("column_B")]
            return ",".join(str(c) for c in cols if c)
    return None


def _examples(result: dict[str, Any], column: str | None, contract: Contract | None) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    index_rows = result.get("partial_unexpected_index_list") or result.get("unexpected_index_list")
    if index_rows and isinstance(index_rows[0], dict):
        rows = [dict(r) for r in index_rows[:MAX_EXAMPLES]]
    elif (result.get("details") or {}).get("unexpected_rows"):
        rows = [dict(r) for r in result["details"]["unexpected_rows"]]
    elif result.get("partial_unexpected_list"):
        rows = [{column or "value": v} for v in result["partial_unexpected_list"]]
    elif result.get("partial_missing_list"):
        rows = [{"missing": v} for v in result["partial_missing_list"]]
    return [masking.mask_row(_jsonable(r), contract) for r in rows[:MAX_EXAMPLES]]


def _jsonable(row: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in row.items():
        out[str(k)] = v if isinstance(v, str | int | float | bool | type(None)) else str(v)
    return out


def _example_words(examples: list[dict[str, Any]]) -> str:
    words = []
    for row in examples:
        where = row.get("_source_row") or row.get("first_row")
        values = [f"{v}" for k, v in row.items() if k not in {"_source_row", "first_row"}]
        if "repeat_row" in row:
            words.append(f"{row['first_row']} and {row['repeat_row']}")
        elif where is not None:
            words.append(f"row {where}: {', '.join(values)}" if values else f"row {where}")
        else:
            words.append(", ".join(values))
    return "; ".join(words) if words else "(none shown)"


def _outcome(r: Any, contract: Contract | None) -> ExpectationOutcome:
    config = r.expectation_config
    kwargs = {k: v for k, v in dict(config.kwargs).items() if k != "batch_id"}
    result = dict(r.result or {})
    meta = dict(config.meta or {})
    column = _column_of(kwargs, meta)
    check_id = catalog.check_key(config.type, meta)
    examples = _examples(result, column, contract) if not r.success else []
    observed = result.get("observed_value")
    count = result.get("unexpected_count")
    if config.type == "unexpected_rows_expectation":
        count = observed
    if result.get("partial_missing_list"):
        observed = ", ".join(str(v) for v in result["partial_missing_list"])
    if (
        column
        and masking.is_sensitive(column, contract)
        and observed is not None
        and check_id != "column_type"
    ):
        observed = masking.MASK
    exception = (
        (r.exception_info or {}).get("exception_message")
        if (r.exception_info or {}).get("raised_exception")
        else None
    )
    values = catalog.check_values(
        column,
        kwargs,
        observed=observed if observed is not None else exception,
        count=count,
        total=result.get("element_count"),
        examples=_example_words(examples),
    )
    explained = catalog.explain_check(check_id, values)
    return ExpectationOutcome(
        expectation_type=config.type,
        check_id=check_id,
        column_name=column,
        success=bool(r.success),
        observed_value=None if observed is None else str(observed),
        element_count=result.get("element_count"),
        unexpected_count=count if isinstance(count, int) else None,
        unexpected_percent=result.get("unexpected_percent"),
        description=config.description or explained.meaning,
        message=None if r.success else explained.message,
        kwargs=_jsonable_kwargs(kwargs),
        exception_message=exception,
        examples=examples,
    )


def _jsonable_kwargs(kwargs: dict[str, Any]) -> dict[str, Any]:
    import json

    return json.loads(json.dumps(kwargs, default=str))
