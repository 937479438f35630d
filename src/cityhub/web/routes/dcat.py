"""DCAT-AP 3.0 routes: the catalog (paged with Hydra) and datasets as Turtle, RDF/XML, JSON-LD or N-Triples.

* ``/catalog.ttl|.rdf|.jsonld|.nt?page=N&page_size=M`` and ``/catalog`` by content negotiation (a browser
  asking for HTML is sent to the dataset list);
* ``/dataset/<name>.ttl|.rdf|.jsonld|.nt``, and ``/dataset/<name>`` when the ``Accept`` header prefers an RDF
  type (otherwise the portal's HTML page answers, as before);
* ``/id/dataset/<name>`` and ``/id/organization/<slug>``: the URIs the RDF uses, 303 to their pages.

Errors (bad page number, unknown dataset) come back in the JSON error shape, whatever the ``Accept`` header:
an RDF client has no use for the HTML error page. This router must be included before the pages router.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse
from fastapi.routing import APIRoute
from starlette.datastructures import Headers
from starlette.routing import Match
from starlette.types import Scope

from cityhub.errors import CityHubError
from cityhub.interop.dcat import EXTENSIONS, negotiate
from cityhub.web.deps import call, error_response

router = APIRouter(include_in_schema=False, tags=["dcat"])


class RdfAcceptRoute(APIRoute):
    """A route that matches only requests whose ``Accept`` header prefers an RDF type, so that the same path
    falls through to the HTML page for browsers."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        match, child = super().matches(scope)
        if match is Match.NONE or negotiate(Headers(scope=scope).get("accept", "")) is None:
            return Match.NONE, {}
        return match, child


def _rdf(request: Request, action: str, data: dict[str, Any], *, vary: bool) -> Response:
    try:
        out = call(request, action, data, via="api")
    except CityHubError as exc:
        return error_response(exc)
    headers = {"Vary": "Accept"} if vary else {}
    if getattr(request.state, "actor", None) is not None:
        headers["Cache-Control"] = "private, no-store"
    return Response(out["body"], media_type=f"{out['media_type']}; charset=utf-8", headers=headers)


def _catalog(request: Request, fmt: str, *, vary: bool = False) -> Response:
    q = request.query_params
    data: dict[str, Any] = {"format": fmt}
    for key in ("page", "page_size"):
        if key in q:
            data[key] = q[key]
    return _rdf(request, "catalog_dcat", data, vary=vary)


def _catalog_route(fmt: str) -> Callable[[Request], Any]:
    async def catalog_file(request: Request) -> Response:
        return await run_in_threadpool(_catalog, request, fmt)

    return catalog_file


def _dataset_route(fmt: str) -> Callable[[Request, str], Any]:
    async def dataset_file(request: Request, name: str) -> Response:
        return await run_in_threadpool(_rdf, request, "dataset_dcat", {"id": name, "format": fmt}, vary=False)

    return dataset_file


for _ext, _fmt in EXTENSIONS.items():
    router.add_api_route(f"/catalog.{_ext}", _catalog_route(_fmt), methods=["GET"], name=f"catalog_{_ext}")
    router.add_api_route(f"/dataset/{{name}}.{_ext}", _dataset_route(_fmt), methods=["GET"], name=f"dataset_{_ext}")


@router.get("/catalog")
def catalog(request: Request) -> Response:
    """The catalog in the RDF type the client asks for (Turtle by default); browsers go to the dataset list."""
    accept = request.headers.get("accept", "")
    fmt = negotiate(accept)
    if fmt is None and "text/html" in accept:
        return RedirectResponse("/dataset", status_code=303, headers={"Vary": "Accept"})
    return _catalog(request, fmt or "turtle", vary=True)


def dataset_negotiated(request: Request, name: str) -> Response:
    """``/dataset/<name>`` for RDF clients (the pages router answers everyone else)."""
    return _rdf(request, "dataset_dcat", {"id": name, "format": negotiate(request.headers.get("accept", ""))},
                vary=True)


router.add_api_route("/dataset/{name}", dataset_negotiated, methods=["GET"], route_class_override=RdfAcceptRoute)


@router.get("/id/dataset/{name}")
def dataset_id(name: str) -> Response:
    """The dataset's URI: 303 to its page, which serves HTML or RDF by content negotiation."""
    return RedirectResponse(f"/dataset/{name}", status_code=303)


@router.get("/id/organization/{slug}")
def organization_id(slug: str) -> Response:
    return RedirectResponse(f"/organization/{slug}", status_code=303)
