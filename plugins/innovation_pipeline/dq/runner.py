"""Run a suite through Great Expectations 1.x against the warehouse, as SQL.

Each call builds an ephemeral GX context: suites come from ``expectations/`` (see ``suites``), the
datasource from ``warehouse.sqlalchemy_url()``; validation results are kept as files under
``output_dir()/gx/validations`` and rendered into Data Docs at ``output_dir()/data_docs`` by
:func:`render_data_docs` (the docs DAG). A context per call keeps parallel Airflow tasks from
sharing (and racing on) a ``great_expectations.yml``. What GX returns is read into our outcomes
(masked, in plain words) by :mod:`.outcomes`.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from innovation_pipeline import settings
from innovation_pipeline.contracts import Contract
from innovation_pipeline.dq.outcomes import MAX_EXAMPLES, SuiteOutcome, error_outcome, expectation_outcome
from innovation_pipeline.dq.suites import SuiteSpec
from innovation_pipeline.warehouse import sqlalchemy_url

log = logging.getLogger(__name__)

# GX substitutes ${...} from the environment, which keeps the URL (and any password) out of GX's config
# and lets a unix-socket URL (host in the query string) pass PostgresDatasource's validation.
URL_VARIABLE = "INNOVATION_PIPELINE_GX_WAREHOUSE_URL"
DATASOURCE = "warehouse"
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


POSITION_KEY = "position"


def _position(result: Any) -> int:
    """Which of the suite's expectations a result is of (its place, kept in the expectation's meta)."""
    return int(result.expectation_config.meta["innovation_pipeline"][POSITION_KEY])


def _gx_expectation(e: dict[str, Any], position: int | None = None) -> Any:
    from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

    meta = dict(e.get("meta") or {})
    if position is not None:
        meta["innovation_pipeline"] = {POSITION_KEY: position}
    return ExpectationConfiguration(
        type=e["type"], kwargs=e.get("kwargs", {}), meta=meta, description=e.get("description")
    ).to_domain_obj()


def _gx_suite(spec: SuiteSpec) -> Any:
    import great_expectations as gx

    expectations = [_gx_expectation(e, position) for position, e in enumerate(spec.expectations)]
    return gx.ExpectationSuite(
        name=spec.name, expectations=expectations, meta={"innovation_pipeline": spec.meta}
    )


#: The first pass over a batch: counts and observed values for every expectation, no row lists.
#: Gathering failing rows (COMPLETE) makes GX build and run several more metrics per expectation,
#: which for a batch that passes is most of the validation's cost; the expectations that failed
#: are run again with the full format (:meth:`Validator.run`).
SUMMARY_FORMAT = {"result_format": "BASIC", "partial_unexpected_count": MAX_EXAMPLES}


@dataclass
class _Prepared:
    """What one suite needs in the context: its batch definition and GX suite (built once)."""

    batch_definition: Any
    suite: Any
    detail_format: dict[str, Any]


class Validator:
    """One GX context for a batch of validations (building the context costs more than a run).

    Each run validates one batch with GX's validator directly, not through a Checkpoint: a
    checkpoint run first compares the suite, validation definition and checkpoint with their
    stored copies (GX's freshness checks), which cost more than validating a small batch. The
    result is stored in GX's validation results store all the same (Data Docs render from it,
    :func:`render_data_docs`).
    """

    def __init__(self) -> None:
        self.context = _context()
        self._prepared: dict[str, _Prepared] = {}

    def _prepare(self, spec: SuiteSpec) -> _Prepared:
        if spec.name in self._prepared:
            return self._prepared[spec.name]
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
        prepared = _Prepared(
            batch_definition,
            _gx_suite(spec),
            # Marts have no _source_row; landing failures are located by the file's row number.
            RESULT_FORMAT if partition else MART_RESULT_FORMAT,
        )
        self._prepared[spec.name] = prepared
        return prepared

    def _validate(
        self,
        prepared: _Prepared,
        suite: Any,
        batch_parameters: dict[str, Any] | None,
        expectation_parameters: dict[str, Any] | None,
        result_format: dict[str, Any],
    ) -> Any:
        from great_expectations.validator.v1_validator import Validator as GxValidator

        validator = GxValidator(
            batch_definition=prepared.batch_definition,
            batch_parameters=batch_parameters,
            result_format=result_format,
        )
        return validator, validator.validate_expectation_suite(suite, expectation_parameters)

    def _store(self, suite: Any, validator: Any, result: Any, batch_parameters: dict[str, Any] | None) -> Any:
        import datetime as dt

        from great_expectations.core.run_identifier import RunIdentifier
        from great_expectations.data_context.types.resource_identifiers import (
            ExpectationSuiteIdentifier,
            ValidationResultIdentifier,
        )

        run_id = RunIdentifier(run_time=dt.datetime.now(dt.UTC))
        result.meta.update(
            run_id=run_id, validation_time=run_id.run_time, batch_parameters=batch_parameters or None
        )
        suite_id = ExpectationSuiteIdentifier(name=suite.name)
        identifier = ValidationResultIdentifier(
            batch_identifier=validator.active_batch_id, expectation_suite_identifier=suite_id, run_id=run_id
        )
        self.context.validation_results_store.store_validation_results(
            suite_validation_result=result,
            suite_validation_result_identifier=identifier,
            expectation_suite_identifier=suite_id,
        )
        return identifier

    def run(
        self,
        spec: SuiteSpec,
        batch_parameters: dict[str, Any] | None = None,
        expectation_parameters: dict[str, Any] | None = None,
        contract: Contract | None = None,
    ) -> SuiteOutcome:
        """Validate one batch; a failure to run at all is returned as an unsuccessful outcome, not raised.

        Every expectation runs once with the summary format; those that failed run again with
        the full format, whose failing rows (by file row number) the report shows as examples.
        """
        import great_expectations as gx

        asset_name = f"{spec.meta['schema']}.{spec.meta['table']}"
        try:
            prepared = self._prepare(spec)
            validator, validation = self._validate(
                prepared, prepared.suite, batch_parameters, expectation_parameters, SUMMARY_FORMAT
            )
            failed = {_position(r): i for i, r in enumerate(validation.results) if not r.success}
            if failed:
                again = gx.ExpectationSuite(
                    name=spec.name, expectations=[_gx_expectation(spec.expectations[p], p) for p in failed]
                )
                _, detail = self._validate(
                    prepared, again, batch_parameters, expectation_parameters, prepared.detail_format
                )
                for r in detail.results:
                    validation.results[failed[_position(r)]] = r
            identifier = self._store(prepared.suite, validator, validation, batch_parameters)
        except Exception as exc:  # the table is missing, the database is down, a suite is malformed
            log.exception("validation %s could not run", spec.name)
            return error_outcome(spec, asset_name, exc)
        stats = validation.statistics
        outcomes = [expectation_outcome(r, contract) for r in validation.results]
        return SuiteOutcome(
            suite_name=spec.name,
            asset_name=asset_name,
            success=bool(validation.success),
            evaluated=int(stats.get("evaluated_expectations") or 0),
            successful=int(stats.get("successful_expectations") or 0),
            unsuccessful=int(stats.get("unsuccessful_expectations") or 0),
            # The Data Docs page of this run is data_docs/validations/<gx_result_id>.html.
            gx_result_id=_result_id(identifier),
            results=outcomes,
        )


#: The validation results already rendered into Data Docs, one GX result id a line.
RENDERED_LIST = ".rendered"


def render_data_docs() -> Path | None:
    """Render the stored validation results not rendered yet (and the index) into the Data Docs.

    Validation only stores its results; rendering them (about a second a run) is done here, by
    the docs DAG after a marts build, outside the landing and marts runs. Returns the index, or
    None when there was nothing to render or rendering failed (logged: the Data Docs are for
    engineers, and a rendering bug must not fail a pipeline run).
    """
    context = _context()
    done_file = data_docs_dir() / RENDERED_LIST
    done = set(done_file.read_text(encoding="utf-8").splitlines()) if done_file.exists() else set()
    keys = context.validation_results_store.list_keys()
    pending = [k for k in keys if _result_id(k) not in done]
    if not pending:
        return None
    try:
        context.build_data_docs(resource_identifiers=pending)
    except Exception:
        log.exception("could not update the GX Data Docs")
        return None
    with done_file.open("a", encoding="utf-8") as out:
        out.writelines(_result_id(k) + "\n" for k in pending)
    log.info("GX Data Docs: %d validation result(s) rendered", len(pending))
    return data_docs_dir() / "index.html"


def _result_id(identifier: Any) -> str:
    return "/".join(str(p) for p in identifier.to_tuple())
