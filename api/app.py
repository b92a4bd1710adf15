"""The web application: the JSON API under /api, server-rendered pages for people, /openapi.json.

`create_app(config, engine)` builds it (the CLI's `complaints web`, `complaints up` and the tests
call it); `serve(host, port)` runs it with uvicorn. No page fetches anything from another site:
the interactive docs pages (which load a CDN) are off, the OpenAPI schema is served as JSON.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from api.deps import Context, LoginRequired, log_denied
from api.errors import Refused
from api.headers import SecurityHeaders
from api.limits import ASGIApp, BodyLimits, Scope, max_body_bytes
from flows.announcer import prefect_announcer
from models.db import make_engine, migrate
from models.evidence_store import evidence_store
from models.schemas import ComplaintIn
from settings.config import Config, load_config

STATIC = Path(__file__).resolve().parent / "static"
RETRY_AFTER_S = 5
BUSY_DETAIL = f"数据库繁忙，本次操作未完成，请 {RETRY_AFTER_S} 秒后重试"
# PostgreSQL: lock_not_available, serialization_failure, deadlock_detected, query_canceled (lock_timeout /
# statement_timeout while waiting for a lock).
_PG_BUSY = {"55P03", "40001", "40P01", "57014"}


def database_busy(exc: BaseException) -> bool:
    """SQLite's "database is locked" / "database is busy", or PostgreSQL's lock and serialization failures."""
    if not isinstance(exc, DBAPIError):
        return False
    orig = exc.orig
    code = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    if code in _PG_BUSY:
        return True
    text = str(orig).lower()
    return "database is locked" in text or "database is busy" in text or "database table is locked" in text


def _field(loc: tuple[Any, ...]) -> str:
    parts = [p for p in loc if p not in ("body", "query", "path", "header")]
    text = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in parts).lstrip(".")
    where = loc[0] if loc and loc[0] in ("query", "path", "header") else None
    return f"{where}.{text}" if where and text else text or "(body)"


def _is_api(request: Request) -> bool:
    return request.url.path.startswith("/api")


def _problem(status: int, detail: str, errors: list[str] | None = None, **extra: Any) -> JSONResponse:
    body = {"detail": detail, "errors": errors or [], "current": None, "target": None, **extra}
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(body, status_code=status, headers=headers)


def _openapi(app: FastAPI) -> Callable[[], dict[str, Any]]:
    def build() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
            complaint = ComplaintIn.model_json_schema(ref_template="#/components/schemas/{model}")
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            components.update(complaint.pop("$defs", {}))
            components["ComplaintIn"] = complaint
            schema["components"]["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer"}}
            schema["security"] = [{"bearer": []}]
            app.openapi_schema = schema
        return app.openapi_schema
    return build


def create_app(config: Config | None = None, engine: Engine | None = None, *,
               max_body: int | None = None) -> FastAPI:
    """The app on this config and engine (defaults: config/ and COMPLAINTS_DATABASE_URL, migrated).

    An engine passed in is used as it is: migrate it first (`models.db.migrate`). `max_body`:
    the request body limit in bytes (default COMPLAINTS_MAX_BODY_BYTES, else 1 MiB; api/limits.py).
    The evidence store is made first (`evidence_store()`, an S3 bucket checked with HEAD): settings
    that are incomplete, contradictory or unreachable raise `EvidenceStoreError` (a ConfigError naming
    the variable) here, so the app does not start, rather than at the first upload.
    """
    evidence_store()
    if engine is None:
        engine = make_engine()
        migrate(engine)
    app = FastAPI(title="投诉处理 API — complaint workflow", version="1", docs_url=None, redoc_url=None,
                  description="Bearer tokens (`complaints token add USER`). Datetimes carry their offset; "
                              "shown in Asia/Shanghai. Refusals are `Problem` bodies naming each field.")
    app.state.ctx = Context(config or load_config(), engine, announcer=prefect_announcer)

    from api.pages import router as pages_router
    from api.pages_workbench import router as workbench_pages_router
    from api.routes_api import router as api_router
    from api.routes_workbench import router as workbench_api_router

    app.include_router(api_router)
    app.include_router(workbench_api_router)  # lists, search, queue, views (issue 14)
    app.include_router(workbench_pages_router)
    app.include_router(pages_router)
    from api import pages_dashboard, routes_analytics  # 一把手看板, 监管报送 (issue 16)

    app.include_router(routes_analytics.router)
    app.include_router(pages_dashboard.router)
    # evidence files, notes, contacts, transfer and return, export, bulk actions (issue 14)
    from api import pages_casework, routes_casework

    app.include_router(routes_casework.router)
    app.include_router(pages_casework.router)
    from api import pages_governance, routes_governance  # call-backs, 整改 (issue 16)

    app.include_router(routes_governance.router)
    app.include_router(pages_governance.router)
    from api import pages_account  # 登录会话, 安全日志 (issue 12)

    app.include_router(pages_account.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.openapi = _openapi(app)  # type: ignore[method-assign]

    async def limit_response(scope: Scope, status: int, detail: str, errors: list[str]) -> ASGIApp:
        request = Request(scope)
        if _is_api(request):
            return _problem(status, detail, errors)
        from api.pages import error_page

        return error_page(request, status, detail, errors)

    # Added before the headers middleware so that its refusals carry the security headers too.
    app.add_middleware(BodyLimits, limit=max_body_bytes(max_body), respond=limit_response,
                       uploads=app.state.ctx.config.policy.evidence.max_bytes + 64 * 1024)

    app.add_middleware(SecurityHeaders)

    @app.exception_handler(DBAPIError)
    async def database_error(request: Request, exc: DBAPIError) -> Response:
        if not database_busy(exc):
            return await server_error(request, exc)
        headers = {"Retry-After": str(RETRY_AFTER_S)}
        if _is_api(request):
            response: Response = _problem(503, BUSY_DETAIL, [])
        else:
            from api.pages import error_page

            response = error_page(request, 503, BUSY_DETAIL, [])
        response.headers.update(headers)
        return response

    @app.exception_handler(Refused)
    async def refused(request: Request, exc: Refused) -> Response:
        if exc.status == 403 or exc.denied:
            await run_in_threadpool(log_denied, request, exc.status, exc.detail)
        if _is_api(request):
            return _problem(exc.status, exc.detail, exc.errors, current=exc.current, target=exc.target)
        from api.pages import error_page

        return error_page(request, exc.status, exc.detail, exc.errors)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        errors = [f"{_field(tuple(e['loc']))}: {e['msg']}" for e in exc.errors()]
        if _is_api(request):
            return _problem(422, "invalid request; nothing stored", errors)
        from api.pages import error_page, zh_validation

        return error_page(request, 422, "输入有误，未保存任何数据", zh_validation(exc.errors()))

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        if exc.status_code == 403:
            await run_in_threadpool(log_denied, request, 403, str(exc.detail))
        if _is_api(request):
            response: Response = _problem(exc.status_code, str(exc.detail))
        else:
            from api.pages import error_page

            response = error_page(request, exc.status_code, str(exc.detail), [])
        response.headers.update(exc.headers or {})  # Retry-After of a sign-in lock (api/deps.too_many)
        return response

    @app.exception_handler(Exception)
    async def server_error(request: Request, exc: Exception) -> Response:
        # Starlette's server-error middleware calls this after logging the traceback.
        if _is_api(request):
            return _problem(500, "internal error; the action was not completed")
        from api.pages import error_page

        return error_page(request, 500, "", [])

    @app.exception_handler(LoginRequired)
    async def login_required(request: Request, exc: LoginRequired) -> Response:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        from urllib.parse import quote

        return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)

    return app


def serve(host: str = "127.0.0.1", port: int = 8000, *, config: Config | None = None,
          engine: Engine | None = None) -> None:
    """Run the app with uvicorn until interrupted (`complaints web`, `complaints up`)."""
    uvicorn.run(create_app(config, engine), host=host, port=port, log_level="info", access_log=False)


@contextmanager
def serving(app: FastAPI, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Serve `app` with uvicorn in a thread (tests, benchmarks); yields the base URL."""
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        while not server.started:
            if not thread.is_alive():
                raise RuntimeError("the web server did not start")
            threading.Event().wait(0.02)
        sock = server.servers[0].sockets[0]
        bound_port = sock.getsockname()[1]
        yield f"http://{host}:{bound_port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
