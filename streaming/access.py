"""Who may touch a session: each browser gets a random HttpOnly cookie (`agf_owner`) on its first page load, a
session is bound to it when it starts, and every handler checks it. Gradio keys a tab's state by an 11-character
session hash that travels in URLs and request bodies; knowing it is not enough, the cookie never appears in a
URL and no script can read it.

Exports are handed out by `ExportDesk`: files in one private folder per session, outside Gradio's served cache,
each downloadable once, by the browser that asked, within `ttl_s`, at `agf/export/<token>`; then deleted.
`AccessMiddleware` (an ASGI middleware given to Gradio's app) sets the cookie and serves those downloads.
"""
from __future__ import annotations

import atexit
import functools
import inspect
import logging
import os
import secrets
import shutil
import tempfile
import threading
import time
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import quote

log = logging.getLogger(__name__)

COOKIE = "agf_owner"
EXPORT_ROUTE = "agf/export/"


def owner_of(request) -> str:
    """The browser's owner cookie from a gr.Request ('' when there is none)."""
    if request is None:
        return ""
    cookies = getattr(request, "cookies", None) or {}
    return str(cookies.get(COOKIE, ""))


class NotYours(PermissionError):
    pass


def check_owner(state, owner: str, direct: bool) -> None:
    """Raise NotYours when `state` belongs to another browser. `direct`: called in-process (tests), no request."""
    session = getattr(state, "session", None)
    bound = getattr(session, "owner", "")
    if direct or state is None or not bound:
        return
    if not secrets.compare_digest(bound, owner):
        raise NotYours("this session belongs to another browser")


def owned(fn):
    """Wrap a Gradio handler: it receives the gr.Request too, and refuses a state of another browser.
    The handler's other parameters are unchanged, so it is wired like the original; a handler with a
    `request` parameter gets the request there."""
    import gradio as gr
    sig = inspect.signature(fn)
    wants_request = "request" in sig.parameters
    params = [p for name, p in sig.parameters.items() if name != "request"]
    params.append(inspect.Parameter("agf_request", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=None,
                                    annotation=gr.Request))

    @functools.wraps(fn)
    def wrapper(*args):
        *args, request = args
        owner = owner_of(request)
        for a in args:
            try:
                check_owner(a, owner, direct=request is None)
            except NotYours:
                log.warning("refused a call for another browser's session (%s)", getattr(fn, "__name__", fn))
                raise gr.Error("This session belongs to another browser.", print_exception=False) from None
        return fn(*args, request=request) if wants_request else fn(*args)

    wrapper.__signature__ = sig.replace(parameters=params)
    inner = getattr(fn, "func", fn)  # a functools.partial names its function
    wrapper.__name__ = wrapper.__qualname__ = getattr(inner, "__name__", "handler")
    wrapper.__annotations__ = {"agf_request": gr.Request}
    del wrapper.__wrapped__  # Gradio must see the wrapper's signature, not the handler's
    return wrapper


class ExportDesk:
    """Export files waiting for their one download."""

    def __init__(self, ttl_s: float = 300.0, root: str | Path | None = None):
        self.ttl_s = ttl_s
        self.root = Path(tempfile.mkdtemp(prefix="agf-exports-", dir=root))
        os.chmod(self.root, 0o700)
        self._items: dict[str, tuple[str, Path, float]] = {}   # token -> (owner, file, expires)
        self._lock = threading.Lock()
        atexit.register(self.close)

    def folder(self, session_id: str) -> Path:
        d = self.root / session_id
        d.mkdir(mode=0o700, exist_ok=True)
        return d

    def offer(self, owner: str, path: Path) -> str:
        """A relative URL that serves `path` once to `owner` within ttl_s."""
        self.expire()
        token = secrets.token_urlsafe(24)
        with self._lock:
            self._items[token] = (owner, Path(path), time.time() + self.ttl_s)
        return f"{EXPORT_ROUTE}{token}/{quote(Path(path).name)}"

    def take(self, token: str, owner: str) -> Path | None:
        """The file for `token` when `owner` made it and it has not expired; the token is spent either way
        only when the owner matches (a wrong guess does not spoil the real download)."""
        self.expire()
        with self._lock:
            item = self._items.get(token)
            if item is None or not owner or not secrets.compare_digest(item[0], owner):
                return None
            del self._items[token]
        return item[1] if item[1].exists() else None

    def expire(self, now: float | None = None) -> int:
        now = time.time() if now is None else now
        with self._lock:
            old = [t for t, (_, _, exp) in self._items.items() if exp < now]
            paths = [self._items.pop(t)[1] for t in old]
        for p in paths:
            p.unlink(missing_ok=True)
        return len(old)

    def close_session(self, session_id: str) -> None:
        """Session over: its folder and links go."""
        d = self.root / session_id
        with self._lock:
            for t in [t for t, (_, p, _) in self._items.items() if p.parent == d]:
                del self._items[t]
        shutil.rmtree(d, ignore_errors=True)

    def files(self) -> list[Path]:
        return [p for p in self.root.rglob("*") if p.is_file()]

    def close(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


class AccessMiddleware:
    """ASGI: give each browser its owner cookie; serve `agf/export/<token>/<name>` to that owner only."""

    def __init__(self, app, desk: ExportDesk, secure: bool = False):
        self.app, self.desk, self.secure = app, desk, secure

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        owner = _cookie(scope)
        path = scope.get("path", "")
        if f"/{EXPORT_ROUTE}" in path:
            token = path.split(f"/{EXPORT_ROUTE}", 1)[1].split("/")[0]
            return await self._download(token, owner, send)
        if owner:
            return await self.app(scope, receive, send)
        new = secrets.token_urlsafe(24)
        cookie = f"{COOKIE}={new}; Path=/; HttpOnly; SameSite=Lax" + ("; Secure" if self.secure else "")

        async def send_with_cookie(message):
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = list(message["headers"]) + [(b"set-cookie", cookie.encode())]
            await send(message)
        return await self.app(scope, receive, send_with_cookie)

    async def _download(self, token: str, owner: str, send) -> None:
        path = self.desk.take(token, owner)
        if path is None:
            body, status, headers = b"Not found.", 404, [(b"content-type", b"text/plain")]
        else:
            body, status = path.read_bytes(), 200
            path.unlink(missing_ok=True)  # served once
            headers = [(b"content-type", b"application/octet-stream"),
                       (b"content-disposition", f'attachment; filename="{path.name}"'.encode()),
                       (b"cache-control", b"no-store")]
        await send({"type": "http.response.start", "status": status,
                    "headers": headers + [(b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})


def _cookie(scope) -> str:
    for k, v in scope.get("headers", []):
        if k == b"cookie":
            jar = SimpleCookie()
            try:
                jar.load(v.decode("latin-1"))
            except Exception:  # noqa: BLE001  a malformed cookie header counts as none
                return ""
            if COOKIE in jar:
                return jar[COOKIE].value
    return ""
