"""What the web cabinet (web/) needs beside the resources: who is signed in, where phones
register, and the built single-page app itself at `/`.

The SPA is served by the API process (never the switch): files of the Vite build from
`web_dir`; any other path that is not under `/api` is answered with `index.html`, so the
cabinet's own routes (`/employees/12`) survive a reload. The `/api` prefix is left alone: an
unknown API path stays a JSON 404 and a wrong method a 405.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fastapi import APIRouter, FastAPI
from pydantic import BaseModel, Field
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, Response
from starlette.routing import BaseRoute, Match
from starlette.types import Receive, Scope, Send

from vpbx.api.crud import ERRORS
from vpbx.api.deps import CurrentActor
from vpbx.domain.actor import Role


class Me(BaseModel):
    """The signed-in cabinet user as the API sees him (ACC-2): what his menus may offer."""

    role: Role
    account_id: int | None = Field(description="None: an operator who has chosen no account")
    user_id: int | None = Field(description="None for the installation operator")
    employee_id: int | None = Field(description="the employee a user of role employee is")


class SipServer(BaseModel):
    """SIP-1: where a phone registers: shown beside each SIP line's login and password."""

    host: str
    port: int
    tls_port: int | None = Field(description="SIP over TLS (SRTP lines); None: off")
    realm: str


@dataclass(frozen=True, slots=True)
class CabinetSettings:
    """What the composition root tells the API about the cabinet."""

    #: the Vite build (index.html and assets/); None: no cabinet served
    web_dir: Path | None
    sip: SipServer


def cabinet_router(sip: SipServer) -> APIRouter:
    router = APIRouter(tags=["cabinet"], responses=ERRORS)

    @router.get("/auth/me", response_model=Me, summary="The signed-in user: role and ids")
    async def me(who: CurrentActor) -> Me:
        return Me(
            role=who.role,
            account_id=who.account_id,
            user_id=who.user_id,
            employee_id=who.employee_id,
        )

    @router.get("/sip-server", response_model=SipServer, summary="Where SIP lines register")
    async def sip_server(who: CurrentActor) -> SipServer:
        del who  # any signed-in user: the address is on every line card
        return sip

    return router


NOT_BUILT = """<!doctype html>
<html lang="ru"><head><meta charset="utf-8"><title>vpbx</title></head>
<body style="font-family: sans-serif; max-width: 40em; margin: 3em auto">
<h1>Кабинет не собран</h1>
<p>Файлы веб-кабинета не найдены в <code>{where}</code>. Соберите их командой
<code>make web</code> (её выполняет и <code>make run</code>) и обновите страницу.
API работает: <a href="/api/v1/docs">/api/v1/docs</a>.</p>
<h1 lang="en">The cabinet is not built</h1>
<p lang="en">The web cabinet's files are not in <code>{where}</code>. Build them with
<code>make web</code> (<code>make run</code> does it too) and reload the page.
The API is up: <a href="/api/v1/docs">/api/v1/docs</a>.</p>
</body></html>
"""


class CabinetRoute(BaseRoute):
    """GET/HEAD of any path outside `/api`: a file of the build, or `index.html`."""

    def __init__(self, web_dir: Path | None) -> None:
        self.root = web_dir.resolve() if web_dir is not None else None

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] != "http" or scope["method"] not in ("GET", "HEAD"):
            return Match.NONE, {}
        path: str = scope["path"]
        if path == "/api" or path.startswith("/api/"):
            return Match.NONE, {}
        return Match.FULL, {}

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope)
        gzip_ok = "gzip" in request.headers.get("accept-encoding", "")
        response = self.response(request.url.path, gzip_ok=gzip_ok)
        await response(scope, receive, send)

    def response(self, path: str, *, gzip_ok: bool = False) -> Response:
        index = self.root / "index.html" if self.root is not None else None
        if self.root is None or index is None or not index.is_file():
            where = str(self.root) if self.root is not None else "web/dist"
            return HTMLResponse(NOT_BUILT.format(where=where), status_code=503)
        relative = path.lstrip("/")
        if relative:
            candidate = (self.root / relative).resolve()
            if candidate.is_relative_to(self.root) and candidate.is_file():
                # Vite names what it builds by content: cached for good; the rest revalidated.
                immutable = candidate.parent.name == "assets"
                cache = "public, max-age=31536000, immutable" if immutable else "no-cache"
                headers = {"Cache-Control": cache, "Vary": "Accept-Encoding"}
                packed = candidate.with_name(candidate.name + ".gz")
                if gzip_ok and packed.is_file():
                    # compressed once by the build (scripts/web.sh), not per request
                    media_type = FileResponse(candidate).media_type
                    headers["Content-Encoding"] = "gzip"
                    return FileResponse(packed, headers=headers, media_type=media_type)
                return FileResponse(candidate, headers=headers)
            if "." in relative.rsplit("/", 1)[-1]:
                # A missing file (an old asset, a typo): not the page, which a script tag or
                # an <img> would take for its content.
                return Response("not found", status_code=404, media_type="text/plain")
        return FileResponse(index, headers={"Cache-Control": "no-cache"})


def install_cabinet(app: FastAPI, prefix: str, cabinet: CabinetSettings) -> None:
    """The cabinet's API routes under `prefix`, and the SPA after every other route."""
    app.include_router(cabinet_router(cabinet.sip), prefix=prefix)
    app.router.routes.append(CabinetRoute(cabinet.web_dir))


def default_web_dir() -> Path:
    """The build of the source tree this package runs from (`pip install -e .`): web/dist."""
    return Path(__file__).resolve().parents[3] / "web" / "dist"
