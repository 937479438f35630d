"""The OpenAPI document at ``/api/openapi.json`` tells the truth about the native API.

* Every native route is in the document, with an operationId, a summary and its error responses.
* schemathesis generates requests for every native operation (bounded, derandomised examples), anonymous and
  with a platform admin's API token, against a store of its own with the Guangzhou demo loaded, and fails on
  a server error or on any status code, content type, header or body the document does not declare.

The CKAN compatibility API (``/api/3/action/...``, tag ``ckan``) speaks CKAN's envelope, not ours; its own
tests drive it with the real ``ckanapi`` client, so it is left out of this run.
"""

from __future__ import annotations

import os
import zlib
from collections import Counter, defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.hooks import HookContext
from schemathesis.python import asgi

from cityhub.errors import NotFound
from cityhub.web.app import create_app
from tests.conftest import Store, _drop_pg_database, call_as, make_store, token_for

NATIVE_PREFIX = "/api/"
NOT_NATIVE = ("/api/3/", "/api/action/", "/api/docs", "/api/openapi.json")
CKAN_ROOTS = ("/api", "/api/1", "/api/2", "/api/3")  # CKAN's get_api: {"version": N}
MAX_EXAMPLES = 12
# SQLite by default (the run is the slowest file of the suite); CITYHUB_OPENAPI_BACKEND=postgres runs it on
# PostgreSQL instead (the odd-input regression tests below run on both backends anyway).
FUZZ_BACKEND = os.environ.get("CITYHUB_OPENAPI_BACKEND", "sqlite")
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_headers_conformance,
          response_schema_conformance]
RUN = settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True, database=None,
               suppress_health_check=list(HealthCheck))

APP = create_app()
SCHEMA = schemathesis.openapi.from_asgi("/api/openapi.json", APP).exclude(tag="ckan")

# Real identifiers of the demo store, by path parameter: generated values are mostly unknown names (404), so
# about half of them are swapped for a real one to reach the code behind the lookups.
KNOWN: dict[tuple[str, str], list[Any]] = {}
# resource id -> column names of its live datastore table
TABLES: dict[str, list[str]] = {}
# (caller, operation) -> status code -> responses seen
SEEN: defaultdict[tuple[str, str], Counter[int]] = defaultdict(Counter)


def native_routes(app: Any) -> set[tuple[str, str]]:
    """(method, path) of every JSON API route the application serves (not pages, not CKAN). FastAPI keeps
    included routers as nested entries of ``app.routes``; ``iter_route_contexts`` walks them with their
    effective (prefixed) paths."""
    out = set()
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        path = context.path
        if not isinstance(route, APIRoute) or not path.startswith(NATIVE_PREFIX) or path.startswith(NOT_NATIVE) \
                or path.rstrip("/") in CKAN_ROOTS:
            continue
        for method in (route.methods or set()) - {"HEAD", "OPTIONS"}:
            out.add((method, path))
    assert out, "no native routes found: the route walk no longer matches FastAPI's router"
    return out


# -- the document -------------------------------------------------------------------------------------------


def test_document_is_served_and_lists_every_native_route(tmp_path: Path) -> None:
    os.environ.setdefault("CITYHUB_SECRET_KEY", "test-secret-key-openapi-0001")
    app = create_app()
    with TestClient(app) as client:
        doc = client.get("/api/openapi.json")
        assert doc.status_code == 200 and doc.headers["content-type"].startswith("application/json")
        docs = client.get("/api/docs")
        assert docs.status_code == 200 and "text/html" in docs.headers["content-type"]
    spec = doc.json()
    assert spec == app.openapi()
    documented = {(m.upper(), p) for p, ops in spec["paths"].items() for m in ops}
    missing = native_routes(app) - documented
    assert not missing, f"native routes missing from /api/openapi.json: {sorted(missing)}"
    assert not any(p.startswith(("/dataset/", "/static", "/login")) for _, p in documented), "pages are in the API"
    ids = [op.get("operationId") for ops in spec["paths"].values() for op in ops.values()]
    assert all(ids) and len(ids) == len(set(ids)), "every operation needs a unique operationId"


def test_every_native_operation_declares_its_shapes() -> None:
    spec = APP.openapi()
    error_ref = "#/components/schemas/ErrorResponse"
    for method, path in sorted(native_routes(APP)):
        op = spec["paths"][path][method.lower()]
        where = f"{method} {path}"
        assert op.get("summary"), f"{where} has no summary"
        responses = op["responses"]
        success = [code for code in responses if code.startswith("2")]
        assert len(success) == 1, f"{where} must declare exactly one success status"
        content = responses[success[0]].get("content", {})
        assert content, f"{where} has no success content"
        for media in content.values():
            assert media.get("schema") not in (None, {}), f"{where} success body is undescribed"
        for code in ("401", "422"):
            assert code in responses, f"{where} does not declare {code}"
        for code, resp in responses.items():
            if code.startswith("4"):
                schema = resp["content"]["application/json"]["schema"]
                assert schema == {"$ref": error_ref}, f"{where} {code} is not the standard error shape"
        if "{" in path:
            assert "404" in responses, f"{where} looks something up but does not declare 404"
        if op.get("requestBody"):
            assert "413" in responses, f"{where} takes a body but does not declare 413"
    error = spec["components"]["schemas"]["ErrorDetail"]
    assert set(error["required"]) == {"type", "message", "message_en"}


def test_download_declares_its_file_types() -> None:
    op = APP.openapi()["paths"]["/api/v1/resources/{resource_id}/datastore/download"]["get"]
    assert set(op["responses"]["200"]["content"]) == {
        "text/csv", "application/json", "application/vnd.apache.parquet",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}


@pytest.mark.parametrize("method, url, kwargs", [
    ("GET", "/api/v1/datasets/a%00b", {}),
    ("GET", "/api/v1/users/a%00b", {}),
    ("GET", "/api/v1/plans?department=a%00b", {}),
    ("POST", "/api/v1/session", {"json": {"username": "a\x00b", "password": "x"}}),
    ("DELETE", "/api/v1/tokens/9223372036854775808", {}),
    ("GET", "/api/v1/datastore/jobs/76590370805996131975168", {}),
    ("GET", "/api/v1/audit?offset=99999999999999999999", {}),
    ("POST", "/api/v1/session", {"content": b"\xff\xfe{", "headers": {"content-type": "application/json"}}),
])
def test_odd_input_is_a_validation_error(empty_store: Store, method: str, url: str, kwargs: dict[str, Any]) -> None:
    """Defects the run found: NUL characters (PostgreSQL refuses them: a 500), integers past the id range
    (an overflow: a 500) and bodies that are not UTF-8 (an undocumented 400) are all a plain 422. Routes whose
    action anonymous callers may not call at all answer 401 first (access before validity), so those are sent
    by a platform admin too."""
    with TestClient(create_app(), raise_server_exceptions=False) as client:
        resp = client.request(method, url, **kwargs)
        if resp.status_code == 401 and any(p in url for p in ("/users/", "/tokens/", "/audit")):
            call_as("system", "user_create", {"name": "odd_admin", "password": "Odd-Input-Passphrase-2026!",
                                              "role": "platform_admin"})
            headers = {**kwargs.pop("headers", {}), "Authorization": token_for("odd_admin")}
            resp = client.request(method, url, headers=headers, **kwargs)
    assert resp.status_code == 422, resp.text
    assert resp.json()["error"]["type"] == "validation_error"


# -- the schemathesis run -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fuzz_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    """A demo store of this module's own: the run creates, changes and deletes things at random."""
    assert FUZZ_BACKEND in ("sqlite", "postgres"), FUZZ_BACKEND
    store, db_name = make_store(tmp_path_factory.mktemp("openapi-fuzz"), FUZZ_BACKEND)
    from cityhub.demo.loader import load

    load()
    yield store
    asgi.shutdown_lifespans()  # stop the app's background flush loop before the next store is activated
    if db_name:
        from cityhub import db

        db.reset_caches()
        _drop_pg_database(db_name)
    KNOWN.clear()
    TABLES.clear()


@pytest.fixture(scope="module")
def known(fuzz_store: Store) -> None:
    fuzz_store.activate()
    _collect_known()


@pytest.fixture
def admin_headers(fuzz: Store, known: None) -> dict[str, str]:
    """A fresh token per operation: the run may revoke (DELETE /tokens/{id}) the one it is using."""
    return {"Authorization": f"Bearer {token_for('admin', days=1)}"}


@pytest.fixture
def fuzz(fuzz_store: Store) -> Store:
    fuzz_store.activate()
    return fuzz_store


def _collect_known() -> None:
    """Real names and ids from the demo store. The admin's own user and tokens are left out, so random
    writes cannot lock the run out; deletes get datasets and resources of their own, so the other operations
    still find the rest."""
    from tests.conftest import call_as

    datasets = [d["name"] for d in call_as("admin", "dataset_search", {"rows": 50})["results"]]

    def resources_of(names: list[str]) -> list[str]:
        return [r["id"] for name in names for r in call_as("admin", "dataset_show", {"id": name})["resources"]]

    kept, doomed = datasets[:6], datasets[-3:]
    resources = resources_of(kept)
    departments = [d["slug"] for d in call_as("admin", "department_list", {})]
    users = [u["name"] for u in call_as("admin", "user_list", {}) if u["name"] != "admin"]
    tokens = [t["id"] for t in call_as("admin", "token_list", {}) if t["user"] != "admin"]
    versions = []
    for rid in resources:
        try:
            info = call_as("admin", "datastore_info", {"id": rid})
        except NotFound:  # a document or a link, no table
            continue
        versions += [v["id"] for v in info["versions"]]
        TABLES[rid] = [c["name"] for c in info["columns"]]
    KNOWN.update({
        ("/api/v1/datasets/", "name"): kept,
        ("DELETE /api/v1/datasets/", "name"): doomed,
        ("/api/v1/users/", "name"): users,
        ("/api/v1/resources/", "resource_id"): resources,
        ("DELETE /api/v1/resources/", "resource_id"): resources_of(doomed),
        ("/api/v1/departments/", "slug"): departments,
        ("/api/v1/plans/", "department"): departments,
        ("/api/v1/plans/", "year"): [2024, 2025, 2026],
        ("/api/v1/tokens/", "token_id"): tokens,
        ("/api/v1/datastore/jobs/", "version_id"): versions,
    })


@SCHEMA.hook("map_path_parameters")
def _real_identifiers(context: HookContext, path_parameters: dict[str, Any] | None) -> dict[str, Any] | None:
    """Swap about half of the generated identifiers for real ones (deterministically: crc32, not hash())."""
    if not path_parameters or context.operation is None:
        return path_parameters
    op = context.operation
    out = dict(path_parameters)
    for name, value in path_parameters.items():
        for where in (f"{op.method.upper()} {op.path}", op.path):
            known = next((v for (prefix, param), v in KNOWN.items() if param == name and where.startswith(prefix)), None)
            if known is not None:
                break
        if known:
            pick = zlib.crc32(repr(value).encode())
            if pick % 2:
                out[name] = known[(pick // 2) % len(known)]
    return out


@SCHEMA.hook("map_case")
def _real_columns(context: HookContext, case: schemathesis.Case) -> schemathesis.Case:
    """Aggregates, column statistics and SQL need a real table and its real columns: about half of the cases
    get them (random names are all 404 or 422)."""
    path = case.operation.path
    sql = path == "/api/v1/datastore/sql"
    if not TABLES or not (sql or path.endswith(("/datastore/aggregate", "/datastore/stats"))):
        return case
    pick = zlib.crc32(repr((case.path_parameters, case.query, case.body)).encode())
    if pick % 2 == 0 or not isinstance(case.query, dict):
        return case
    rid = sorted(TABLES)[(pick // 2) % len(TABLES)]
    column = TABLES[rid][(pick // 16) % len(TABLES[rid])]
    if sql:
        case.body = {"sql": f'SELECT "{column}", count(*) AS n FROM "{rid}" GROUP BY 1'}
    else:
        case.path_parameters = {**(case.path_parameters or {}), "resource_id": rid}
        case.query = {**case.query, ("column" if path.endswith("/stats") else "group_by"): column}
    return case


# One pytest item per operation, with the operation in its id: schemathesis' own parametrize gives every
# operation the same node id, and pytest-xdist (``make test`` runs with ``-n 2``) would run only one of them.
OPERATIONS = {op.label: op for op in (result.ok() for result in SCHEMA.get_all_operations())}


def _fuzz(label: str, who: str, headers: dict[str, str]) -> None:
    @given(case=OPERATIONS[label].as_strategy())
    @RUN
    def run(case: schemathesis.Case) -> None:
        _call(case, who, headers)

    run()


@pytest.mark.parametrize("label", sorted(OPERATIONS))
def test_api_anonymous(label: str, fuzz: Store, known: None) -> None:
    """Anonymous callers: reads work, writes are refused, nothing is a 5xx or undocumented."""
    _fuzz(label, "anonymous", {})


@pytest.mark.parametrize("label", sorted(OPERATIONS))
def test_api_as_platform_admin(label: str, fuzz: Store, admin_headers: dict[str, str]) -> None:
    """A platform admin's token: writes go through to validation and the actions themselves."""
    _fuzz(label, "admin", admin_headers)


def _call(case: schemathesis.Case, who: str, headers: dict[str, str]) -> None:
    response = case.call(headers=dict(headers))
    SEEN[(who, case.operation.label)][response.status_code] += 1
    case.validate_response(response, checks=CHECKS, headers=dict(headers))


#: path prefixes of routes whose callers are not users: the exchange API (X-Road-Client + system secret), telemetry
OTHER_CREDENTIALS = ("/api/exchange/", "/api/telemetry", "/api/v1/{token}/telemetry")


def test_the_run_reached_the_actions() -> None:
    """Guard against a run that only ever saw 401s and 404s: the admin's requests must get past
    authentication and the lookups, and succeed, on most operations (writes included)."""
    admin = {op: statuses for (who, op), statuses in SEEN.items() if who == "admin"}
    if not {f"{method} {path}" for method, path in native_routes(APP)} <= admin.keys():
        pytest.skip("the schemathesis run was not selected (or only part of it)")
    # routes that authenticate callers by other credentials (a registered system's secret, a device's token) can
    # never succeed with the admin's token: they do not count
    admin = {op: st for op, st in admin.items() if not op.split(" ", 1)[1].startswith(OTHER_CREDENTIALS)}
    succeeded = sorted(op for op, statuses in admin.items() if any(200 <= code < 300 for code in statuses))
    writes = [op for op in succeeded if not op.startswith("GET ")]
    failing = sorted(set(admin) - set(succeeded))
    # most routes that name a record (a device, a request, a ticket) or take a rich body (a dataset, a rule) only
    # succeed with inputs the fuzzer seldom makes; a run stuck at 401/404 would succeed on almost none
    assert len(succeeded) >= 0.45 * len(admin), f"only these operations ever succeeded: {succeeded}; never: {failing}"
    write_statuses = {op: dict(st) for op, st in admin.items() if not op.startswith("GET ")}
    assert len(writes) >= 8, f"too few writes succeeded: {writes}; statuses: {write_statuses}"
    refused = [op for (who, op), statuses in SEEN.items() if who == "anonymous"
               and not op.startswith("GET ") and any(200 <= code < 300 for code in statuses)]
    assert set(refused) <= {"POST /api/v1/session", "POST /api/v1/datastore/sql"}, refused
