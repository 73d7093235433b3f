"""Who may touch a session: each browser gets a random HttpOnly cookie (`agf_owner`) on its first page load, a
session is bound to it when it starts, and every handler checks it. Gradio keys a tab's state by an 11-character
session hash that travels in URLs and request bodies; knowing it is not enough, the cookie never appears in a
URL and no script can read it.

Exports are handed out by `ExportDesk`: files in one private folder per session, outside Gradio's served cache,
each downloadable once, by the browser that asked, within `ttl_s`, at `agf/export/<token>`; then deleted (a
thread deletes what was not taken when its time is up).
`AccessMiddleware` (an ASGI middleware given to Gradio's app) sets the cookie, binds each Gradio session hash
to the first browser that uses it (another browser's request with that hash gets 403, so it can neither run
events in that session nor read its queue messages; a request naming a hash twice is refused, since Gradio
reads the last one), and serves those downloads.
"""
from __future__ import annotations

import atexit
import functools
import inspect
import json
import logging
import os
import secrets
import shutil
import tempfile
import threading
import time
from collections import OrderedDict
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import parse_qsl, quote

from .privacy import EXPORT_PREFIX

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


SPENT_KEPT = 1000   # used or expired links remembered, so that their owner is told instead of a bare 404


class ExportDesk:
    """Export files waiting for their one download."""

    def __init__(self, ttl_s: float = 300.0, root: str | Path | None = None):
        self.ttl_s = ttl_s
        # the pid in the name lets the next server remove the folder if this one is killed (privacy.remove_stale)
        self.root = Path(tempfile.mkdtemp(prefix=f"{EXPORT_PREFIX}{os.getpid()}-", dir=root))
        os.chmod(self.root, 0o700)
        self._items: dict[str, tuple[str, Path, float]] = {}   # token -> (owner, file, expires)
        self._spent: dict[str, str] = {}    # token -> owner, for links used or expired (the last SPENT_KEPT)
        self._lock = threading.Lock()
        self._sweeper: threading.Thread | None = None           # runs while links are out (see _sweep)
        self._closed = threading.Event()
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
            if self._sweeper is None:
                self._sweeper = threading.Thread(target=self._sweep, name="agf-export-expiry", daemon=True)
                self._sweeper.start()
        return f"{EXPORT_ROUTE}{token}/{quote(Path(path).name)}"

    def _sweep(self) -> None:
        """Delete each file nobody took when its link expires (raw media must not outlive its TTL because no
        one asked for another link); ends when no link is out, and `offer` starts it again."""
        while True:
            with self._lock:
                if not self._items or self._closed.is_set():
                    self._sweeper = None
                    return
                due = min(exp for _, _, exp in self._items.values())
            if self._closed.wait(max(0.0, due - time.time()) + 0.01):
                continue                                   # closed: the loop ends above
            self.expire()

    def take(self, token: str, owner: str) -> Path | None:
        """The file for `token` when `owner` made it and it has not expired; the token is spent either way
        only when the owner matches (a wrong guess does not spoil the real download)."""
        self.expire()
        with self._lock:
            item = self._items.get(token)
            if item is None or not owner or not secrets.compare_digest(item[0], owner):
                return None
            del self._items[token]
            self._remember(token, owner)
        return item[1] if item[1].exists() else None

    def was_spent(self, token: str, owner: str) -> bool:
        """Whether `owner` had this link and it was used or expired (to them it can say so; to anyone else
        it does not exist)."""
        with self._lock:
            had = self._spent.get(token)
        return bool(owner) and had is not None and secrets.compare_digest(had, owner)

    def _remember(self, token: str, owner: str) -> None:   # under _lock
        self._spent[token] = owner
        while len(self._spent) > SPENT_KEPT:
            self._spent.pop(next(iter(self._spent)))

    def expire(self, now: float | None = None) -> int:
        now = time.time() if now is None else now
        with self._lock:
            old = [t for t, (_, _, exp) in self._items.items() if exp < now]
            for t in old:
                self._remember(t, self._items[t][0])
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
        self._closed.set()
        shutil.rmtree(self.root, ignore_errors=True)


class SessionBinding:
    """Gradio session hash -> the owner cookie that first used it (bounded: the oldest are forgotten)."""

    def __init__(self, max_sessions: int = 100_000):
        self._owners: OrderedDict[str, str] = OrderedDict()
        self.max_sessions = max_sessions
        self._lock = threading.Lock()

    def allows(self, session_hash: str, owner: str) -> bool:
        """True when `owner` may use `session_hash`; the first owner to use a hash claims it."""
        if not session_hash:
            return True
        with self._lock:
            bound = self._owners.get(session_hash)
            if bound is None:
                if owner:
                    self._owners[session_hash] = owner
                    while len(self._owners) > self.max_sessions:
                        self._owners.popitem(last=False)
                return True
            return bool(owner) and secrets.compare_digest(bound, owner)


class AccessMiddleware:
    """ASGI: give each browser its owner cookie; refuse a request that uses another browser's Gradio session
    hash (queue join/data, heartbeat, stream chunks, cancel); serve `agf/export/<token>/<name>` to its owner."""

    def __init__(self, app, desk: ExportDesk, secure: bool = False, binding: SessionBinding | None = None):
        self.app, self.desk, self.secure = app, desk, secure
        self.binding = binding or SessionBinding()

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        owner = _cookie(scope)
        path = scope.get("path", "")
        if f"/{EXPORT_ROUTE}" in path:
            token = path.split(f"/{EXPORT_ROUTE}", 1)[1].split("/")[0]
            return await self._download(token, owner, send)
        # Every session hash the request names, wherever it is: Gradio reads the query's last value and the
        # body's last key, so each one given must be this browser's, and a repeated one is refused outright.
        hashes = [_query_hashes(scope)]
        if "/heartbeat/" in path:
            hashes.append([path.rsplit("/heartbeat/", 1)[1]])
        if scope.get("method") == "POST" and (path.endswith(BODY_HASH_PATHS) or "/stream/" in path):
            try:
                body = await read_body(receive, scope, MAX_GRADIO_BODY)
                hashes.append(_body_hashes(body))
            except BodyTooLarge as e:
                log.warning("refused %s: %s", path, e)
                return await _respond(send, 413, str(e).encode())
            except ValueError as e:
                return await _respond(send, 400, str(e).encode())
            receive = _replay(body, receive)
        if any(len(found) > 1 for found in hashes):
            log.warning("refused %s: session_hash given more than once", path)
            return await _respond(send, 400, b"session_hash is given more than once; give it once.")
        if not all(self.binding.allows(h, owner) for found in hashes for h in found):
            log.warning("refused %s for another browser's session", path)
            return await _respond(send, 403, b"This session belongs to another browser.")
        if owner:
            return await self.app(scope, receive, send)
        new = secrets.token_urlsafe(24)
        # Secure over HTTPS, also behind a TLS proxy (uvicorn sets the scheme from a trusted X-Forwarded-Proto)
        secure = self.secure or scope.get("scheme") == "https"
        cookie = f"{COOKIE}={new}; Path=/; HttpOnly; SameSite=Lax" + ("; Secure" if secure else "")

        async def send_with_cookie(message):
            if message["type"] == "http.response.start":
                message["headers"] = list(message.get("headers", [])) + [(b"set-cookie", cookie.encode())]
            await send(message)
        return await self.app(scope, receive, send_with_cookie)

    async def _download(self, token: str, owner: str, send) -> None:
        path = self.desk.take(token, owner)
        if path is None:
            if self.desk.was_spent(token, owner):
                return await _respond(send, 410, SPENT_LINK.encode())
            return await _respond(send, 404, b"Not found.")
        body = path.read_bytes()
        path.unlink(missing_ok=True)  # served once
        await _respond(send, 200, body, [(b"content-type", b"application/octet-stream"),
                                         (b"content-disposition", f'attachment; filename="{path.name}"'.encode())])


# A spent, expired or unknown export link (one answer for all: a guess learns nothing); the page shows it too.
SPENT_LINK = ("This download link was already used or has expired: each link works once, for a few minutes. "
              "Go back to the page and press Export again for a new one.")
BODY_HASH_PATHS = ("/queue/join", "/cancel")
# The page's Gradio events carry a few settings or one webcam frame (640x480 asked for: ~0.1 MB as base64 JPEG;
# a camera that ignores the ask, 1920x1440: ~1 MB). Over this, a body is refused before it is buffered.
MAX_GRADIO_BODY = 8 * 2**20


def _query_hashes(scope) -> list[str]:
    """Every `session_hash` value in the query string, parsed as Starlette parses it (blank values kept)."""
    query = scope.get("query_string", b"").decode("latin-1")
    return [v for k, v in parse_qsl(query, keep_blank_values=True) if k == "session_hash"]


def _body_hashes(body: bytes) -> list[str]:
    """Every top-level `session_hash` of a JSON body (a key may be repeated, or spelt with escapes, and the
    JSON parser behind Gradio keeps the last); [] for an empty body. Raises ValueError for a body that is not
    JSON."""
    if not body.strip():
        return []
    try:
        top = json.loads(body, object_pairs_hook=lambda pairs: pairs)   # objects stay lists of (key, value)
    except (ValueError, RecursionError):
        raise ValueError("the request body is not JSON") from None
    if not isinstance(top, list) or not all(isinstance(p, tuple) for p in top):
        return []
    return [v if isinstance(v, str) else "" for k, v in top if k == "session_hash"]


class BodyTooLarge(ValueError):
    """A request body over its route's limit (HTTP 413)."""


async def read_body(receive, scope, limit: int) -> bytes:
    """The request's body, at most `limit` bytes: refused from its Content-Length before a byte is read, or as
    soon as a streamed body passes the limit, so an oversized post is never held in memory."""
    for k, v in scope.get("headers", []):
        if k == b"content-length":
            declared = v.decode("latin-1").strip()
            if not declared.isdigit():
                raise ValueError(f"Content-Length {declared[:40]!r} is not accepted; a number of bytes is")
            if int(declared) > limit:
                raise BodyTooLarge(f"a body of {int(declared)} bytes is not accepted here; at most {limit}")
    chunks, n, more = [], 0, True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ValueError("the client went away before its request body arrived")
        chunks.append(message.get("body", b""))
        n += len(chunks[-1])
        if n > limit:
            raise BodyTooLarge(f"a body of more than {limit} bytes is not accepted here")
        more = message.get("more_body", False)
    return b"".join(chunks)


def _replay(body: bytes, original):
    """A receive() that gives the body already read, then whatever the client sends next (a disconnect)."""
    sent = False

    async def receive():
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await original()
    return receive


async def _respond(send, status: int, body: bytes, headers: list | None = None) -> None:
    headers = headers or [(b"content-type", b"text/plain")]
    await send({"type": "http.response.start", "status": status,
                "headers": headers + [(b"content-length", str(len(body)).encode()), (b"cache-control", b"no-store")]})
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
