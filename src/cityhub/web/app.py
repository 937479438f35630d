"""The ASGI application: middleware, error mapping and the route modules."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from cityhub import actions, jobs
from cityhub.errors import CityHubError, PayloadTooLarge
from cityhub.settings import get_settings
from cityhub.web import deps
from cityhub.web.cache import public_responses
from cityhub.web.routes import api, ckan, pages

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
    task = asyncio.create_task(_flush_usage_forever())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(Exception):
            await asyncio.to_thread(jobs.flush_usage)


async def _flush_usage_forever() -> None:
    while True:
        await asyncio.sleep(10)
        try:
            await asyncio.to_thread(jobs.flush_usage)
        except Exception:  # keep the loop alive; the next flush retries
            log.exception("usage flush failed")


def create_app() -> FastAPI:
    settings = get_settings()
    app = FastAPI(
        title="CityHub API",
        description="开放广州 / CityHub: 政务信息资源目录、开放数据门户与 CKAN 兼容接口。",
        version="0.1.0",
        docs_url="/api/docs",
        openapi_url="/api/openapi.json",
        redoc_url=None,
        lifespan=lifespan,
    )

    @app.middleware("http")
    async def caller_and_limits(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        limit = settings.max_upload_mb << 20
        length = request.headers.get("content-length")
        try:
            if length and length.isdigit() and int(length) > limit:
                raise PayloadTooLarge(f"请求体超过上限 {settings.max_upload_mb} MiB",
                                      f"Request body exceeds the limit of {settings.max_upload_mb} MiB")
            if request.url.path.startswith("/static/") or deps.anonymous(request):
                deps.clear(request)
            else:
                await asyncio.to_thread(deps.resolve, request)
        except CityHubError as exc:
            response: Response = deps.error_response(exc)
        else:
            response = await call_next(request)
            if request.method not in ("GET", "HEAD", "OPTIONS"):
                public_responses.clear()  # a write in this process is visible to its next read at once
        for key, value in SECURITY_HEADERS.items():
            response.headers.setdefault(key, value)
        if request.url.path.startswith("/api/docs"):
            del response.headers["Content-Security-Policy"]
        return response

    @app.exception_handler(CityHubError)
    async def cityhub_error(request: Request, exc: CityHubError) -> Response:
        if pages.wants_html(request):
            return pages.error_page(request, exc)
        return deps.error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def request_invalid(request: Request, exc: RequestValidationError) -> Response:
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
        if pages.wants_html(request):
            return pages.error_page(request, err)
        return deps.error_response(err)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s", request.url.path)
        body = {"error": {"type": "server_error", "message": "服务器内部错误", "message_en": "Internal server error"}}
        return JSONResponse(body, status_code=500)

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.include_router(api.router)
    app.include_router(ckan.router)
    app.include_router(pages.router)
    return app

