"""The browser pages: login, video wall, enforcement inbox, incident replay, labelling, stats,
administration, the camera editor.

The pages are static HTML, CSS and JavaScript modules under `api/web/` (no build step, nothing
from a CDN). They are public: every figure on them comes from authenticated API calls made
with the token the login page keeps in sessionStorage, so a page without a token shows nothing
but the way back to the login page.

Caching: file names carry no content hash, so a browser must revalidate every file
(`no-cache`) and gets a cheap 304 when its ETag still matches; a new deployment is then seen on
the next load instead of after some max-age. A Content-Security-Policy limits scripts and
connections to this origin (`blob:` for WebRTC media is not needed; `data:` for the inline
favicon only).
"""

from __future__ import annotations

import mimetypes
from collections.abc import Awaitable, Callable
from pathlib import Path

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import FileResponse, RedirectResponse, Response

router = APIRouter(tags=["pages"], include_in_schema=False)

WEB_ROOT = Path(__file__).resolve().parent.parent / "web"

PAGES = {
    "login": "login.html",
    "wall": "wall.html",
    "inbox": "inbox.html",
    "replay": "replay.html",
    "incident": "incident.html",
    "label": "label.html",
    "stats": "stats.html",
    "admin": "admin.html",
    "setup": "setup.html",
}

_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".webmanifest": "application/manifest+json",
}

_CSP = (
    "default-src 'self'; img-src 'self' data:; media-src 'self'; "
    "connect-src 'self'; script-src 'self'; style-src 'self'; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)

_HEADERS = {
    "Cache-Control": "no-cache",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


@router.get("/")
async def root() -> RedirectResponse:
    """The login page decides where a user lands by role."""
    return RedirectResponse("/login", status_code=307)


def _page_route(name: str) -> Callable[[Request], Awaitable[Response]]:
    async def serve(request: Request) -> Response:
        response = _file(WEB_ROOT / name, request)
        response.headers["Content-Security-Policy"] = _CSP
        return response

    return serve


# One explicit route per page, not a catch-all `/{page}`: a catch-all would shadow any
# one-segment route (`/metrics`, `/healthz`) included after this router.
for _path, _name in PAGES.items():
    router.add_api_route(f"/{_path}", _page_route(_name), methods=["GET"], name=f"page_{_path}")


@router.get("/sw.js")
async def service_worker(request: Request) -> Response:
    """The inbox's service worker, at the root so that its scope is the whole site."""
    return _file(WEB_ROOT / "sw.js", request)


@router.get("/manifest.webmanifest")
async def manifest(request: Request) -> Response:
    """The inbox as an installable app."""
    return _file(WEB_ROOT / "manifest.webmanifest", request)


@router.get("/static/{path:path}")
async def static(path: str, request: Request) -> Response:
    """A script, stylesheet or image under `api/web/`; never a file outside it."""
    target = _inside(WEB_ROOT, path)
    if target is None:
        raise HTTPException(404, "no such file")
    return _file(target, request)


def _inside(root: Path, relative: str) -> Path | None:
    """The file `relative` names under `root`, or None if missing, hidden or outside it."""
    if not relative or any(part.startswith(".") for part in relative.split("/")):
        return None
    base = root.resolve()
    path = (base / relative).resolve()
    if not path.is_relative_to(base) or not path.is_file() or path.suffix not in _TYPES:
        return None
    return path


def _file(path: Path, request: Request) -> Response:
    # With the stat given, FileResponse sets ETag and Last-Modified now, not when sent.
    response = FileResponse(
        path, media_type=_media_type(path), headers=_HEADERS, stat_result=path.stat()
    )
    etag = response.headers.get("etag", "")
    if etag and etag in _etags(request.headers.get("if-none-match", "")):
        return Response(status_code=304, headers={**_HEADERS, "ETag": etag})
    return response


def _etags(header: str) -> set[str]:
    # Weak validators compare equal for a GET (RFC 9110 13.1.2).
    return {tag.strip().removeprefix("W/") for tag in header.split(",") if tag.strip()}


def _media_type(path: Path) -> str:
    return _TYPES.get(path.suffix) or mimetypes.guess_type(path.name)[0] or "text/plain"
