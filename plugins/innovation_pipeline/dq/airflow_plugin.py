"""Airflow 3 plugin: the program-officer report (and the GX Data Docs) inside the Airflow UI.

Registered through the ``airflow.plugins`` entry point in ``pyproject.toml`` (the ``plugins/``
folder scan ignores the package, see ``plugins/.airflowignore``). A FastAPI app mounted at
``/dq-report`` serves ``output_dir()/report``, ``output_dir()/data_docs`` and ``output_dir()/dbt_docs``;
external views put "Data-quality report" and "dbt docs (marts)" in the Airflow navigation, shown
inside the UI.

Plugin endpoints are not protected by Airflow on their own: every request here needs a logged-in
Airflow user (the UI's session cookie or a bearer token) allowed to see the website.

A user scoped to some states (``innovation-pipeline access --report-viewer USER=CO``, kept in
``access.report_viewers``) is served the report built for those states instead of the statewide one,
under the same addresses, and no Data Docs (they hold every state's results). The scope is read from
the warehouse on every request, so a change applies at once; if it cannot be read, nothing is served.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

from airflow.plugins_manager import AirflowPlugin
from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response

from innovation_pipeline import settings

URL_PREFIX = "/dq-report"
# The folders of output_dir() this app may serve: the report, Data Docs it links to (../data_docs/),
# and the analysts' dbt docs (one offline page, orchestration/dbt_docs.py).
SERVED = ("report", "data_docs", "dbt_docs")
NOT_BUILT = """<!doctype html><html lang="en"><meta charset="utf-8"><title>Data-quality report</title>
<body style="font-family: system-ui, sans-serif; margin: 2em">
<h1>The data-quality report has not been built yet</h1>
<p>It is written by the marts pipeline (<code>build_marts</code>) after every run, and by <code>make demo</code>.
Run one of them, then reload this page.</p></body></html>"""
DOCS_NOT_BUILT = """<!doctype html><html lang="en"><meta charset="utf-8"><title>dbt docs</title>
<body style="font-family: system-ui, sans-serif; margin: 2em">
<h1>The dbt docs have not been built yet</h1>
<p>They are written by the marts pipeline (<code>build_marts</code>, its "dbt docs" task) and by
<code>make demo</code>. Run one of them, then reload this page.</p></body></html>"""
NOT_FOR_SCOPE = """<!doctype html><html lang="en"><meta charset="utf-8"><title>Not available</title>
<body style="font-family: system-ui, sans-serif; margin: 2em">
<h1>Not available to a state-scoped login</h1>
<p>Great Expectations' Data Docs show every state's results, and your login sees {states} only.
The checks of your states' submissions are in <a href="../report/checks.html">your report</a>.</p></body></html>"""
SCOPE_UNREADABLE = """<!doctype html><html lang="en"><meta charset="utf-8"><title>Data-quality report</title>
<body style="font-family: system-ui, sans-serif; margin: 2em">
<h1>The report is unavailable right now</h1>
<p>Which states your login may see could not be read from the warehouse. Try again in a minute;
if it persists, tell the data team.</p></body></html>"""
SECURITY_HEADERS = {
    # Only the Airflow UI (same origin) may frame the report.
    "Content-Security-Policy": "frame-ancestors 'self'",
    "X-Content-Type-Options": "nosniff",
}


def _require_login() -> list[object]:
    """The Airflow dependency that demands a user allowed to see the website."""
    from airflow.api_fastapi.auth.managers.models.resource_details import AccessView
    from airflow.api_fastapi.core_api.security import requires_access_view

    return [Depends(requires_access_view(AccessView.WEBSITE))]


Scope = frozenset[str] | None
ScopeDependency = Callable[..., Scope]


def _airflow_viewer_scope() -> ScopeDependency:
    """The dependency that gives the logged-in Airflow user's states (None: every state)."""
    from airflow.api_fastapi.core_api.security import get_user

    # A default, not an annotation: annotations are strings here (future import) and FastAPI would
    # look for Airflow's names in this module's globals.
    def viewer_scope(user: Any = Depends(get_user)) -> Scope:  # noqa: B008
        return _scope_of_user(user.get_name())

    return viewer_scope


def _scope_of_user(name: str) -> Scope:
    from innovation_pipeline import access, warehouse

    try:
        with warehouse.connect(autocommit=True) as conn:
            return access.report_scopes(conn).get(name)
    except Exception as exc:  # the warehouse is down or unreachable: fail closed, never statewide
        raise ScopeUnreadable from exc


class ScopeUnreadable(Exception):
    """The user's state scope could not be read: the request is answered 503, with nothing served."""


def _unscoped() -> Scope:
    return None


def _folder_of(folder: str, scope: Scope) -> Path:
    """The folder a request for ``folder`` is served from, for a user with this scope."""
    if folder not in SERVED:
        raise HTTPException(status_code=404)
    if scope is None:
        return settings.output_dir() / folder
    if folder == "report":
        from innovation_pipeline.dq.report import scoped_report_dir

        return scoped_report_dir(scope)
    if folder == "data_docs":
        raise HTTPException(status_code=403)
    return settings.output_dir() / folder


def _resolve(folder: Path, path: str) -> Path:
    """A file inside a served folder; anything else (``..``, symlinks out) is a 404."""
    if "\x00" in path:
        raise HTTPException(status_code=400, detail="bad path")
    base = folder.resolve()
    try:
        target = (base / path).resolve()
        if target.is_dir():
            target = target / "index.html"
        found = target.is_relative_to(base) and target.is_file()
    except (OSError, ValueError):  # a segment too long for the file system, and the like
        found = False
    if not found:
        raise HTTPException(status_code=404)
    return target


def create_app(dependencies: list[object] | None = None, scope_of: ScopeDependency | None = None) -> FastAPI:
    """The report app; ``dependencies`` defaults to requiring an Airflow login, and ``scope_of`` (a
    FastAPI dependency giving the user's states, None for all) to the logged-in user's scope.
    Tests that replace the login get an unscoped user unless they pass ``scope_of``."""
    if scope_of is None:
        scope_of = _airflow_viewer_scope() if dependencies is None else _unscoped
    app = FastAPI(
        title="Data-quality report",
        dependencies=_require_login() if dependencies is None else dependencies,  # type: ignore[arg-type]
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )

    @app.exception_handler(ScopeUnreadable)
    def scope_unreadable(_request: Request, _exc: ScopeUnreadable) -> Response:
        return HTMLResponse(SCOPE_UNREADABLE, status_code=503, headers=SECURITY_HEADERS)

    @app.get("/", include_in_schema=False, response_model=None)
    def home() -> RedirectResponse:
        # Relative, so it works under any Airflow base URL or proxy prefix.
        return RedirectResponse("report/index.html")

    @app.get("/{folder}/{path:path}", include_in_schema=False, response_model=None)
    # A default, not Annotated: ``scope_of`` is local, and string annotations resolve in globals.
    def serve(folder: str, path: str, scope: Scope = Depends(scope_of)) -> Response:  # noqa: B008
        try:
            target = _resolve(_folder_of(folder, scope), path or "index.html")
        except HTTPException as exc:
            if exc.status_code == 403:
                states = ", ".join(sorted(scope or ()))
                return HTMLResponse(
                    NOT_FOR_SCOPE.format(states=states), status_code=403, headers=SECURITY_HEADERS
                )
            if folder == "report" and path in ("", "index.html"):
                return HTMLResponse(NOT_BUILT, status_code=404, headers=SECURITY_HEADERS)
            if folder == "dbt_docs" and path in ("", "index.html"):
                return HTMLResponse(DOCS_NOT_BUILT, status_code=404, headers=SECURITY_HEADERS)
            raise
        return FileResponse(target, headers=SECURITY_HEADERS)

    return app


class DataQualityReportPlugin(AirflowPlugin):
    """Adds the program-officer data-quality report to the Airflow UI."""

    name = "innovation_dq_report"
    # AirflowPlugin declares these as instance attributes; plugins set them on the class.
    fastapi_apps: ClassVar[list[dict[str, Any]]] = [  # type: ignore[misc]
        {"app": create_app(), "url_prefix": URL_PREFIX, "name": "Data-quality report"}
    ]
    external_views: ClassVar[list[dict[str, Any]]] = [  # type: ignore[misc]
        {
            "name": "Data-quality report",
            # No leading slash: resolved against the UI's base URL, so a proxy prefix still works.
            "href": URL_PREFIX.lstrip("/") + "/",
            "destination": "nav",
            "category": "browse",
            # With url_route the page opens inside the Airflow UI (an iframe) at /plugin/dq-report.
            "url_route": "dq-report",
        },
        {
            "name": "dbt docs (marts)",
            "href": URL_PREFIX.lstrip("/") + "/dbt_docs/index.html",
            "destination": "nav",
            "category": "browse",
            "url_route": "dbt-docs",
        },
    ]
