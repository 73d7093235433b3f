"""What the page exchanges with the server outside Gradio's queue (assets/capture.html).

Gradio's streaming audio keeps only the newest chunk of a stream event on the server (`/stream/{event_id}`
overwrites `event.data`) and the page drops chunks while the stream is opening: under load, speech is lost.
So the page records the microphone itself and posts 16-bit PCM to `POST /agf/audio`, one request at a time,
keeping what it recorded meanwhile and sending it with the next request: nothing is dropped, and every sample
is counted on both sides. Typed text goes to `POST /agf/text` and is answered in that request; the live words
and the conversation come from `GET /agf/view`, a long poll: the server answers as soon as they change (or after
`wait` seconds with no change), and the page asks again at once. A Gradio event waits its turn behind the
webcam stream and the page's timer (0.5-0.8 s while they run). Each session gets a secret token; a request
without the right token reaches no session.
"""
from __future__ import annotations

import asyncio
import logging
import secrets
import time
import weakref

import numpy as np
from fastapi import Request            # at module level: FastAPI resolves the endpoint's annotations here
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool

from ..dialogue.conversation import words_key, words_view
from ..study.access import COOKIE, BodyTooLarge, read_body
from .pipeline import LivePipeline, typed_text
from .state import LiveState
from .utterance import check_chunk
from .worker import ensure_worker

log = logging.getLogger(__name__)
MAX_BODY = 48_000 * 2 * 12          # 12 s of 48 kHz int16: more than the page holds back (bigger bodies: 413,
                                    # refused from Content-Length or while streaming, never buffered)
MAX_TEXT = 5_000                    # characters of one typed message
MAX_WAIT_S = 20.0                   # longest a view request is held open
WAIT_STEP_S = 0.02                  # how often a held view request looks for a change


class CaptureRoutes:
    """The capture endpoints and the sessions they may feed (token -> live state; weak, so a closed session
    disappears with its state)."""

    def __init__(self, pipeline: LivePipeline):
        self.pipeline = pipeline
        self._sessions: weakref.WeakValueDictionary[str, LiveState] = weakref.WeakValueDictionary()

    def register(self, state: LiveState) -> str:
        token = secrets.token_urlsafe(24)
        self._sessions[token] = state
        return token

    def _session(self, token: str, owner: str | None) -> LiveState:
        """The live session of `token`. `owner` is the browser's owner cookie (see streaming/study/access.py): when the
        session has one, the request must come from that browser too."""
        state = self._sessions.get(token)
        if state is None or not state.session.consent or state.closed:
            raise PermissionError("no live session for this token")
        if owner is not None and state.session.owner and owner != state.session.owner:
            raise PermissionError("this session belongs to another browser")
        return state

    def receive(self, token: str, rate: int | str, body: bytes, end: bool = False, owner: str | None = None) -> dict:
        """One post from the page: int16 mono PCM at `rate` (an int, or the query's digits)."""
        state = self._session(token, owner)
        if len(body) % 2 or len(body) > MAX_BODY:
            raise ValueError(f"audio body of {len(body)} bytes is not accepted; accepted: int16 PCM, "
                             f"at most {MAX_BODY} bytes")
        rate = int(rate) if isinstance(rate, str) and rate.isdigit() else rate
        if body:
            chunk = (rate, np.frombuffer(body, np.int16).copy())
            try:
                check_chunk(chunk)
            except ValueError as e:      # the 400 says what is wrong: the rate (with the range) or the length
                self.pipeline.audio_refused(state, e)
                raise
            self.pipeline.on_audio(state, chunk)
        if end:
            self.pipeline.close(state)
        ensure_worker(self.pipeline, state)
        return {"samples": state.inbox.samples_in}

    def say(self, token: str, text: str, owner: str | None = None) -> dict:
        """A typed message, answered in this call: the conversation with the message and its reply, for the
        page to show at once."""
        state = self._session(token, owner)
        if len(text) > MAX_TEXT:
            raise ValueError(f"a typed message of {len(text)} characters is not accepted; at most {MAX_TEXT}")
        said = typed_text(text)
        if not said:
            raise ValueError(f"a message with no visible characters ({text[:20]!r}) is not accepted; type some words")
        t0 = time.perf_counter()
        self.pipeline.on_text(state, said)
        self.pipeline.metrics("typed", state.session.session_id, handler_s=round(time.perf_counter() - t0, 4))
        return words_view(state)

    def view(self, token: str, key: str = "", owner: str | None = None) -> dict:
        """The live words and the conversation (streaming/dialogue/conversation.py), or only {"key": key} when the page,
        which last got `key`, already shows them."""
        state = self._session(token, owner)
        out = words_view(state)
        return out if out["key"] != key else {"key": key}

    def changed(self, token: str, key: str, owner: str | None = None) -> bool:
        """Whether the view differs from `key`, without blocking: a session busy under its lock counts as
        unchanged until the next look (this runs on the event loop, which must never wait for a lock)."""
        state = self._session(token, owner)
        if not state.lock.acquire(blocking=False):
            return False
        try:
            return words_key(state) != key
        finally:
            state.lock.release()

    def routes(self) -> list:
        """FastAPI routes for `launch(app_kwargs={"routes": ...})`."""
        async def body(request: Request, limit: int) -> bytes:
            """The body, read only for a live session of this browser and at most `limit` bytes (the token and
            the Content-Length are checked before a byte is read)."""
            self._session(request.query_params.get("token", ""), request.cookies.get(COOKIE, ""))
            return await read_body(request.receive, request.scope, limit)

        async def audio(request: Request) -> JSONResponse:
            q = request.query_params
            try:
                out = self.receive(q.get("token", ""), q.get("rate", ""), await body(request, MAX_BODY),
                                   end=q.get("end") == "1", owner=request.cookies.get(COOKIE, ""))
            except PermissionError as e:
                return JSONResponse({"error": str(e)}, status_code=403)
            except ValueError as e:
                log.warning("refused microphone audio: %s", e)
                return JSONResponse({"error": str(e)}, status_code=413 if isinstance(e, BodyTooLarge) else 400)
            return JSONResponse(out)

        async def text(request: Request) -> JSONResponse:
            try:
                said = (await body(request, MAX_TEXT * 4)).decode("utf-8")     # UTF-8: at most 4 bytes a character
                out = await run_in_threadpool(self.say, request.query_params.get("token", ""), said,
                                              request.cookies.get(COOKIE, ""))
            except PermissionError as e:
                return JSONResponse({"error": str(e)}, status_code=403)
            except ValueError as e:       # also a body that is not UTF-8 (UnicodeDecodeError)
                log.warning("refused typed text: %s", e)
                return JSONResponse({"error": str(e)}, status_code=413 if isinstance(e, BodyTooLarge) else 400)
            return JSONResponse(out)

        async def view(request: Request) -> JSONResponse:
            # With `wait` > 0 the request is held until the view changes: the page learns of new words one
            # look (20 ms) after they exist, without a stream of requests that cost both sides CPU.
            q = request.query_params
            token, key, owner = q.get("token", ""), q.get("key", ""), request.cookies.get(COOKIE, "")
            try:
                wait = float(q.get("wait", "0"))
                if not 0 <= wait <= MAX_WAIT_S:
                    raise ValueError
            except ValueError:
                return JSONResponse({"error": f"wait={q.get('wait')!r} is not accepted; accepted: seconds from 0 "
                                              f"to {MAX_WAIT_S:g}"}, status_code=400)
            try:
                deadline = time.monotonic() + wait
                while (key and time.monotonic() < deadline and not self.changed(token, key, owner)
                       and not await request.is_disconnected()):
                    await asyncio.sleep(WAIT_STEP_S)
                out = await run_in_threadpool(self.view, token, key, owner)
            except PermissionError as e:
                return JSONResponse({"error": str(e)}, status_code=403)
            if "words" in out:
                self.pipeline.metrics("view", "", key=out["key"])      # when the page's answer left the server
            return JSONResponse(out)

        return [APIRoute("/agf/audio", audio, methods=["POST"], include_in_schema=False),
                APIRoute("/agf/text", text, methods=["POST"], include_in_schema=False),
                APIRoute("/agf/view", view, methods=["GET"], include_in_schema=False)]
