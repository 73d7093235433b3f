"""streaming/study/access.py at the ASGI level: which requests reach Gradio (session hashes, bodies, export expiry).
A small app stands in for Gradio and records what got through; nothing listens on a port."""
import asyncio

import pytest

from streaming.study.access import AccessMiddleware, ExportDesk, SessionBinding


class Behind:
    """The app behind the middleware: reads the body as Gradio would and records what reached it."""

    def __init__(self):
        self.reached = []

    async def __call__(self, scope, receive, send):
        body, more = b"", scope["method"] == "POST"
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        self.reached.append((scope["path"], body))
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})


def call(app, method: str, path: str, query: str = "", owner: str = "", body: bytes = b"",
         chunks: list[bytes] | None = None, headers: list | None = None) -> tuple[int, int]:
    """(status, body bytes the client had to hand over) for one request through `app`."""
    chunks = [body] if chunks is None else chunks
    pulled, sent = [0], {}
    scope = {"type": "http", "method": method, "path": path, "query_string": query.encode(),
             "headers": ([(b"cookie", f"agf_owner={owner}".encode())] if owner else []) + (headers or [])}

    async def receive():
        i = pulled[0]
        pulled[0] += 1
        if i < len(chunks):
            return {"type": "http.request", "body": chunks[i], "more_body": i < len(chunks) - 1}
        return {"type": "http.disconnect"}

    async def send(message):
        if message["type"] == "http.response.start":
            sent["status"] = message["status"]
    asyncio.run(app(scope, receive, send))
    return sent["status"], sum(len(c) for c in chunks[:pulled[0]])


@pytest.fixture()
def gate(tmp_path):
    behind = Behind()
    mw = AccessMiddleware(behind, ExportDesk(root=tmp_path), binding=SessionBinding())
    mw.behind = behind
    assert call(mw, "GET", "/gradio_api/queue/data", "session_hash=victimhash01", owner="victim")[0] == 200
    assert call(mw, "GET", "/gradio_api/queue/data", "session_hash=attacker001", owner="attacker")[0] == 200
    return mw


def test_a_repeated_session_hash_in_the_query_is_refused(gate):
    """Issue 22.1: Starlette (so Gradio) reads the last value of a repeated parameter; the check read the first."""
    from starlette.datastructures import QueryParams
    both = "session_hash=attacker001&session_hash=victimhash01"
    assert QueryParams(both)["session_hash"] == "victimhash01"          # what Gradio would serve
    for query in (both, "session_hash=victimhash01&session_hash=attacker001",
                  "session_hash=attacker001&session%5Fhash=victimhash01",   # the key percent-encoded
                  "session_hash=attacker001&session_hash="):
        assert call(gate, "GET", "/gradio_api/queue/data", query, owner="attacker")[0] == 400, query
    assert call(gate, "GET", "/gradio_api/queue/data", "session_hash=victimhash01", owner="attacker")[0] == 403
    assert call(gate, "GET", "/gradio_api/queue/data", "session_hash=attacker001", owner="attacker")[0] == 200
    assert [p for p, _ in gate.behind.reached].count("/gradio_api/queue/data") == 3   # the two claims + own


@pytest.mark.parametrize("body, status", [
    (b'{"session_hash": "attacker001", "fn_index": 1, "session_hash": "victimhash01"}', 400),  # repeated key
    (b'{"session_hash": "attacker001", "session\\u005fhash": "victimhash01"}', 400),            # escaped key
    (b'{"fn_index": 1, "session_hash": "victimhash01"}', 403),
    (b'{"data": ["\\"session_hash\\": \\"victimhash01\\""], "session_hash": "attacker001"}', 200),  # in a value
    (b'not json', 400),
])
def test_the_body_session_hash_is_the_one_gradio_reads(gate, body, status):
    assert call(gate, "POST", "/gradio_api/queue/join", owner="attacker", body=body)[0] == status


def test_a_query_hash_does_not_vouch_for_another_in_the_body(gate):
    body = b'{"fn_index": 1, "session_hash": "victimhash01"}'
    assert call(gate, "POST", "/gradio_api/queue/join", "session_hash=attacker001", owner="attacker",
                body=body)[0] == 403
    assert call(gate, "POST", "/gradio_api/queue/join", "session_hash=victimhash01", owner="victim",
                body=body)[0] == 200


MB = 2**20


def test_an_oversized_gradio_body_is_refused_before_it_is_buffered(gate):
    """Issue 22.3: the middleware read any body whole to find its session hash."""
    join = b'{"fn_index": 1, "session_hash": "attacker001"}'
    declared = [(b"content-length", str(500 * MB).encode())]
    assert call(gate, "POST", "/gradio_api/queue/join", owner="attacker", chunks=[MB * b" "] * 3,
                headers=declared) == (413, 0)                                  # not a byte read
    status, read = call(gate, "POST", "/gradio_api/queue/join", owner="attacker", chunks=[MB * b" "] * 20)
    assert status == 413 and read <= 9 * MB                                       # streamed: stops at the cap
    assert call(gate, "POST", "/gradio_api/queue/join", owner="attacker", body=join,
                headers=[(b"content-length", b"12x")])[0] == 400
    assert call(gate, "POST", "/gradio_api/queue/join", owner="attacker", body=join)[0] == 200


@pytest.fixture()
def capture_app():
    fastapi = pytest.importorskip("fastapi")
    from streaming.live.capture import CaptureRoutes
    from streaming.live.state import LiveState
    capture = CaptureRoutes(pipeline=None)       # nothing here reaches the pipeline
    state = LiveState()
    state.session.consent, state.session.owner = True, "browser-a"
    app = fastapi.FastAPI(routes=capture.routes())
    app.token, app.state_ = capture.register(state), state
    return app


@pytest.mark.parametrize("route", ["/agf/audio", "/agf/text"])
def test_capture_checks_the_token_and_size_before_reading_a_body(capture_app, route):
    """Issue 22.3: a 500 MB post without a token got its 403 only after being buffered."""
    from streaming.live.capture import MAX_BODY, MAX_TEXT
    limit = MAX_BODY if route == "/agf/audio" else MAX_TEXT * 4
    huge = [(b"content-length", str(500 * MB).encode())]
    query = f"token={capture_app.token}&rate=48000"
    assert call(capture_app, "POST", route, "token=wrong", chunks=[MB * b"\0"] * 3, headers=huge) == (403, 0)
    assert call(capture_app, "POST", route, query, owner="browser-b", chunks=[MB * b"\0"] * 3,
                headers=huge) == (403, 0)                                      # another browser's cookie
    assert call(capture_app, "POST", route, query, owner="browser-a", chunks=[MB * b"\0"] * 3,
                headers=huge) == (413, 0)
    status, read = call(capture_app, "POST", route, query, owner="browser-a", chunks=[64 * 1024 * b"\0"] * 100)
    assert status == 413 and read <= limit + 64 * 1024                         # streamed: stops at the cap
    assert capture_app.state_.inbox.samples_in == 0 and not capture_app.state_.session.transcript


def _poll(fn, limit_s: float = 20.0):
    """fn() until it is truthy or the limit passes: a deadline, not a timing assertion."""
    import time
    end = time.monotonic() + limit_s
    while not (value := fn()) and time.monotonic() < end:
        time.sleep(0.05)
    return value


def test_export_files_nobody_takes_are_deleted_when_their_time_is_up(tmp_path):
    """Issue 22.4: expiry ran only when a link was offered or taken, so raw media outlived the TTL until the
    server stopped."""
    desk = ExportDesk(ttl_s=0.3, root=tmp_path)
    folder = desk.folder("researcher-1")
    files = [folder / "all_2_sessions.json", folder / "s1_audio_0001.wav", folder / "s1_face_0001.npz"]
    for f in files:
        f.write_bytes(b"x")
    links = [desk.offer("browser-r", f) for f in files]
    taken = desk.take(links[0].split("/")[2], "browser-r")
    assert taken == files[0]                                          # taken in time: the download route sends it
    assert _poll(lambda: not any(f.exists() for f in files[1:])), "files outlived their links"
    assert desk.take(links[1].split("/")[2], "browser-r") is None
    f = folder / "later.json"                                         # the sweeper starts again with a new link
    f.write_bytes(b"x")
    desk.offer("browser-r", f)
    assert _poll(lambda: not f.exists())
    desk.close()


def test_a_used_export_link_says_it_was_used_and_how_to_get_a_new_one(gate, tmp_path):
    """Issue 21, item 9: a second click on an export link was a bare 404 "Not found."."""
    from streaming.study.access import SPENT_LINK
    path = gate.desk.folder("s1") / "s1.json"
    path.write_text("{}")
    url = "/" + gate.desk.offer("browser-e", path)
    assert call(gate, "GET", url, owner="browser-e")[0] == 200
    assert call(gate, "GET", url, owner="browser-e")[0] == 410
    assert "already used" in SPENT_LINK and "Export again" in SPENT_LINK
