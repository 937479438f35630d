"""The ASGI application: middleware, error mapping and the route modules."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from cityhub import actions, jobs
from cityhub.errors import CityHubError, ValidationError
from cityhub.settings import get_settings
from cityhub.web import bodies, deps, openapi, page_helpers
from cityhub.web.base_url import ForwardedHostMiddleware
from cityhub.web.cache import public_responses
from cityhub.web.routes import (
    accounts_pages,
    admin_pages,
    api,
    catalog_pages,
    ckan,
    datareq_pages,
    datastore,
    datastore_pages,
    deid_pages,
    discuss_pages,
    home_pages,
    indicators_pages,
    office_pages,
    plans_pages,
    publish,
    publish_pages,
    reuse_pages,
    sensing_pages,
    sharing_pages,
    social_pages,
    transit_pages,
)
from cityhub.web.routes import datapackage as datapackage_routes
from cityhub.web.routes import datareq as datareq_routes
from cityhub.web.routes import dcat as dcat_routes
from cityhub.web.routes import deid as deid_routes
from cityhub.web.routes import discuss as discuss_routes
from cityhub.web.routes import exchange as exchange_routes
from cityhub.web.routes import harvest as harvest_routes
from cityhub.web.routes import indicators as indicators_routes
from cityhub.web.routes import reuse as reuse_routes
from cityhub.web.routes import sensing as sensing_routes
from cityhub.web.routes import sharing as sharing_routes
from cityhub.web.routes import social as social_routes
from cityhub.web.routes import transit as transit_routes

log = logging.getLogger("cityhub.web")
STATIC = Path(__file__).parent / "static"

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "strict-origin-when-cross-origin",
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    "script-src 'self'; object-src 'none'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'",
}


@contextlib.asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    actions.load_all()
    # Everything loaded so far (modules, the action registry, SQLAlchemy's mappers, the app's routes: some
    # 150,000 objects) lives as long as the process: keep it out of the collector's full passes, which
    # otherwise stop a worker for ~100 ms now and then under load (the p99 of package_show).
    global _serving
    outermost = _serving == 0  # a second app in the same process (tests) leaves the settings to the first
    _serving += 1
    if outermost:
        gc.freeze()
    # Automatic full (generation 2) collections walk every long-lived object, and a busy process keeps
    # many (response cache, connection pools): they stopped a worker for tens of milliseconds several times
    # a minute -- the p99 of package_show at 50 connections went 84-115 ms -> 74 ms without them. Young
    # generations are still collected (bigger batches; most garbage cycles die young) and a full collection
    # runs once a minute from _collect_forever instead.
    previous = gc.get_threshold()
    if outermost:
        gc.set_threshold(*GC_THRESHOLDS)
    tasks = [asyncio.create_task(_every(job)) for job in jobs.periodic()]  # what the domains registered
    tasks.append(asyncio.create_task(_collect_forever()))
    if outermost:  # the live sensing demo (CITYHUB_SENSING_DEMO): broker, receiver and simulated fleet
        from cityhub.sensing import demo_feed

        try:
            line = await asyncio.to_thread(demo_feed.start_if_enabled)
        except Exception as exc:  # the portal still serves without the demo feed
            line = (f"感知演示未启动 / sensing demo not started: {exc} (set CITYHUB_MQTT_URL to a running broker, "
                    "CITYHUB_MQTT_EMBEDDED_PORT to a free port, or CITYHUB_SENSING_DEMO=false)")
        if line:
            print(line, file=sys.stderr, flush=True)
    try:
        yield
    finally:
        if outermost:
            from cityhub.sensing import demo_feed

            await asyncio.to_thread(demo_feed.stop)
        for t in tasks:
            t.cancel()
        _serving -= 1
        if outermost:
            gc.set_threshold(*previous)
            # hand the frozen objects back to the collector: frozen ones are never collected, not even at
            # exit, and DuckDB's bindings (nanobind) then report every one of its objects among them as leaked
            gc.unfreeze()
        with contextlib.suppress(Exception):
            await asyncio.to_thread(jobs.at_exit)


_serving = 0  # lifespans running in this process

#: gc thresholds of a server process: generation 0 every 50,000 net allocations, generation 1 every 50 of
#: those, no automatic full collections (see ``lifespan``)
GC_THRESHOLDS = (50_000, 50, 1_000_000)
GC_FULL_EVERY_S = 60.0


async def _collect_forever() -> None:
    while True:
        await asyncio.sleep(GC_FULL_EVERY_S)
        gc.collect()


async def _every(job: jobs.Periodic) -> None:
    """Run a registered periodic job every ``job.seconds()`` (read once; 0 or less: never) off the loop."""
    seconds = job.seconds()
    if seconds <= 0:
        return
    while True:
        await asyncio.sleep(seconds)
        try:
            await asyncio.to_thread(job.func)
        except Exception:  # keep the loop alive; the next round retries
            log.exception("periodic job %s failed", job.name)


class CallerMiddleware:
    """Pure ASGI middleware (cheaper than ``@app.middleware``): who is calling, request bodies (who may send
    an upload, byte caps while streaming, JSON depth: ``web/bodies.py``), security headers, and dropping this
    process's public response cache after a write.

    Responses to a signed-in caller (session cookie or API token) and responses that set a cookie are never
    stored by browsers or proxies (``Cache-Control: no-store``). In production, or on an HTTPS request, every
    cookie is ``Secure``; production also sends HSTS."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        path: str = scope["path"]
        settings = get_settings()
        secure = settings.secure_cookies or scope.get("scheme") == "https"
        extra = list(SECURITY_HEADERS_RAW)  # a response's own header wins (the docs page sets its own CSP)
        if settings.env == "production" and settings.hsts_seconds > 0:
            extra.append((b"strict-transport-security",
                          f"max-age={settings.hsts_seconds}; includeSubDomains".encode()))
        body_kind = bodies.kind(scope["method"], request.headers)
        cap = bodies.limit(body_kind, settings, path) if body_kind else 0
        public_upload = body_kind == "upload" and bodies.public_upload(scope["method"], path)
        if public_upload:  # a reuse's image (issue 15): any signed-in user, a small cap
            cap = bodies.public_upload_cap(settings)
        try:
            length = request.headers.get("content-length")
            if body_kind and length and length.isdigit() and int(length) > cap:
                raise bodies.too_large(body_kind, settings, path)
            # the exchange API authenticates registered systems itself (X-Road-Client + system token)
            # device telemetry authenticates with the device's token (sensing_routes.is_device_path)
            if (path.startswith(("/static/", "/api/exchange/")) or deps.anonymous(request)
                    or sensing_routes.is_device_path(path)):
                deps.clear(request)
            else:
                await asyncio.to_thread(deps.resolve, request)
        except CityHubError as exc:
            await self._error(request, path, exc, html=False)(
                scope, receive, _with_headers(send, extra, secure, private=True))
            return
        private = getattr(request.state, "actor", None) is not None
        headed = _with_headers(send, extra, secure, private)
        try:  # the body: nothing of an upload is read before its sender is known to be allowed to send one
            if body_kind == "upload" and public_upload:
                bodies.check_signed_in(request.state.actor)
            elif body_kind == "upload":
                bodies.check_uploader(request.state.actor, path)
            elif body_kind == "data":
                raw = await bodies.read_all(receive, cap)
                if raw is None:
                    raise bodies.too_large(body_kind, settings, path)
                doc = bodies.json_candidate(raw, request.headers.get("content-type", ""))
                if doc is not None and bodies.depth_exceeds(doc, settings.max_json_depth):
                    depth = settings.max_json_depth
                    if ckan.is_ckan_path(path):  # CKAN answers undecodable JSON with a bare 400 string
                        response = ckan.bad_request(f"JSON Error: the JSON document is nested more than {depth} "
                                                    "levels deep")
                        await response(scope, receive, headed)
                        return
                    raise ValidationError(f"请求体 JSON 嵌套超过 {depth} 层", f"The JSON body is nested more than "
                                          f"{depth} levels deep", fields={"body": [f"nested deeper than {depth}"]})
                receive = bodies.replay(raw, receive)
        except CityHubError as exc:
            await self._error(request, path, exc)(scope, receive, headed)
            return
        started = False
        over: Callable[[], bool] = lambda: False  # noqa: E731
        if body_kind == "upload":
            receive, over = bodies.counting(receive, cap)

        async def send_checked(message: Message) -> None:
            nonlocal started
            if over():  # the upload passed its cap: whatever the app answers, the answer is our 413
                return
            if message["type"] == "http.response.start":
                started = True
            await headed(message)

        try:
            await self.app(scope, receive, send_checked)
        except Exception:
            if not over() or started:
                raise
        finally:
            if scope["method"] not in ("GET", "HEAD", "OPTIONS"):
                public_responses.clear()  # a write in this process is visible to its next read at once
        if over() and not started:
            refusal = self._error(request, path, bodies.too_large("upload", settings, path))
            refusal.headers["Connection"] = "close"  # the rest of the body is not read
            await refusal(scope, receive, headed)

    @staticmethod
    def _error(request: Request, path: str, exc: CityHubError, html: bool = True) -> Response:
        """An error in the shape the caller expects: CKAN's envelope, an HTML page, or our JSON."""
        if ckan.is_ckan_path(path):
            return ckan.error_response(request, exc)
        if html and page_helpers.wants_html(request):
            return page_helpers.error_page(request, exc)
        return deps.error_response(exc)


def _with_headers(send: Send, extra: list[tuple[bytes, bytes]], secure: bool, private: bool) -> Send:
    """``send`` adding the security headers the response lacks, ``Secure`` to its cookies and ``no-store`` when
    it is for a signed-in caller or sets a cookie."""

    async def sender(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers: list[tuple[bytes, bytes]] = list(message.get("headers", []))
            present = {k.lower() for k, _ in headers}
            sets_cookie = b"set-cookie" in present
            if secure and sets_cookie:
                headers = [(k, v + b"; Secure") if k.lower() == b"set-cookie" and b"secure" not in v.lower()
                           else (k, v) for k, v in headers]
            if private or sets_cookie:
                headers = [(k, v) for k, v in headers if k.lower() != b"cache-control"]
                headers.append((b"cache-control", b"no-store"))
                present.add(b"cache-control")
            headers += [(k, v) for k, v in extra if k not in present]
            message["headers"] = headers
        await send(message)

    return sender


SECURITY_HEADERS_RAW = [(k.lower().encode(), v.encode()) for k, v in SECURITY_HEADERS.items()]


async def _refused_first(request: Request) -> Response | None:
    """The refusal of a caller with no right to the route's action at all, when FastAPI refused the input before
    the route's gate (``deps.access``) ran (a body that is not even JSON): access is checked before validity."""
    for dep in getattr(request.scope.get("route"), "dependencies", ()):
        if isinstance(dep.dependency, deps.Gate):
            try:
                await asyncio.to_thread(dep.dependency, request)
            except CityHubError as exc:
                return deps.error_response(exc)
    return None


def create_app() -> FastAPI:
    app = FastAPI(
        title="CityHub API",
        description="开放广州 / CityHub: 政务信息资源目录、开放数据门户与 CKAN 兼容接口。",
        version="0.1.0",
        docs_url=None,  # served from the package by openapi.install_docs (FastAPI's default loads a CDN)
        openapi_url="/api/openapi.json",
        redoc_url=None,
        lifespan=lifespan,
    )

    openapi.install(app)
    openapi.install_docs(app, "/api/docs")
    app.add_middleware(CallerMiddleware)
    proxies = get_settings().trusted_proxies.strip()
    if proxies:  # outermost: the caller's address and scheme are settled before anything reads them
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=[p.strip() for p in proxies.split(",") if p.strip()])
        # outside ProxyHeaders (which replaces the proxy's address by the client's): links' host and mount path
        app.add_middleware(ForwardedHostMiddleware, trusted=proxies)

    @app.exception_handler(CityHubError)
    async def cityhub_error(request: Request, exc: CityHubError) -> Response:
        if page_helpers.wants_html(request):
            return page_helpers.error_page(request, exc)
        return deps.error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def request_invalid(request: Request, exc: RequestValidationError) -> Response:
        refused = await _refused_first(request)
        if refused is not None:
            return refused
        fields: dict[str, list[str]] = {}
        for err in exc.errors():
            key = ".".join(str(p) for p in err.get("loc", ())[1:]) or "__all__"
            fields.setdefault(key, []).append(str(err.get("msg", "invalid")))
        body = {"error": {"type": "validation_error", "message": "请求参数不合法", "message_en": "Invalid request",
                          "fields": fields}}
        return JSONResponse(body, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        kinds = {404: ("not_found", "未找到", "Not found"), 405: ("method_not_allowed", "不支持该方法",
                                                                  "Method not allowed")}
        kind, zh, en = kinds.get(exc.status_code, ("error", "请求错误", str(exc.detail)))
        err = CityHubError(zh, en)
        err.type, err.status = kind, exc.status_code
        if exc.status_code == 400:  # a body FastAPI cannot parse (not UTF-8, broken multipart): invalid input
            refused = await _refused_first(request)
            if refused is not None:
                return refused
            err = ValidationError("请求体无法解析", f"Invalid request body: {exc.detail}",
                                  fields={"body": [str(exc.detail)]})
        if page_helpers.wants_html(request):
            return page_helpers.error_page(request, err)
        return deps.error_response(err)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s", request.url.path)
        body = {"error": {"type": "server_error", "message": "服务器内部错误", "message_en": "Internal server error"}}
        return JSONResponse(body, status_code=500)

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    # routes are tried in order: first the exchange API (five routes, no path of another router matches them, so
    # the order changes no answer; its calls skip ~100 other routes' matching), then the busiest read API
    app.include_router(exchange_routes.router)
    app.include_router(ckan.router)
    app.include_router(api.router)
    app.include_router(publish.router)
    app.include_router(datastore.router)
    app.include_router(datapackage_routes.router)
    app.include_router(harvest_routes.router)  # before pages: /admin/harvest is ours
    app.include_router(sensing_routes.router)  # its device paths carry a device token, not a user's
    app.include_router(dcat_routes.router)  # before pages: RDF by content negotiation on /dataset/{name}
    # portal pages, one module per domain (shared helpers: web/page_helpers.py)
    app.include_router(home_pages.router)
    app.include_router(catalog_pages.router)
    app.include_router(plans_pages.router)
    app.include_router(publish_pages.router)
    app.include_router(accounts_pages.router)
    app.include_router(admin_pages.router)
    app.include_router(datastore_pages.router)  # after catalog_pages: /dataset/{name}/resource/new wins
    app.include_router(sharing_routes.router)  # /api/sharing/... (issue 12)
    app.include_router(sharing_pages.router)  # /sharing/... pages
    app.include_router(sensing_pages.router)
    app.include_router(deid_routes.router)  # sharing (issue 12): de-identified views, base items, corrections
    app.include_router(deid_pages.router)
    app.include_router(transit_routes.router)  # transit runs (issue 14)
    app.include_router(transit_pages.router)
    app.include_router(datareq_routes.router)  # data requests (issue 15): /api/data-requests
    app.include_router(datareq_pages.router)  # /requests pages
    app.include_router(social_routes.router)  # /api/v1/follows, /api/v1/notifications (issue 15)
    app.include_router(social_pages.router)  # activity streams: feeds, notifications, follow buttons (issue 15)
    app.include_router(discuss_routes.router)  # discussions on datasets (issue 15)
    app.include_router(discuss_pages.router)
    app.include_router(reuse_routes.router)  # reuses / showcase (issue 15)
    app.include_router(reuse_pages.router)
    app.include_router(indicators_routes.router)  # plan indicators (issue 15)
    app.include_router(indicators_pages.router)
    app.include_router(office_pages.router)  # the data office's console (issue 15)
    return app

