"""A participant over HTTP, as the page talks to the server (no browser): the consent click through Gradio's
queue, webcam frames through Gradio's stream (uploaded, then posted to /gradio_api/stream/<event>), microphone
audio posted to /agf/audio at real rate and the conversation long-polled from /agf/view. Used by
benchmarks/capacity_proxy.py to load replicas through the proxy the way browsers do, without a browser each.
"""
from __future__ import annotations

import json
import re
import threading
import time
import uuid

import httpx
import numpy as np

POST_S = 0.1          # the page posts the microphone every 100 ms
FRAME_S = 0.33        # the page streams the webcam every 0.33 s (demo.py stream_every)


class Participant:
    def __init__(self, url: str, verify: bool = False):
        self.http = httpx.Client(base_url=url, verify=verify, timeout=60)
        self.session_hash = uuid.uuid4().hex[:11]
        self.token = ""
        self.turn_times: list[float] = []        # wall time each new turn (utterance + reply) reached the client
        self.statuses: dict[int, int] = {}
        self._messages: dict[str, list] = {}
        self._stop = threading.Event()
        self._sse: threading.Thread | None = None

    # ---- Gradio's queue --------------------------------------------------------------------------------------
    def _get(self, path: str, **kw) -> httpx.Response:
        r = self.http.get(path, **kw)
        self.statuses[r.status_code] = self.statuses.get(r.status_code, 0) + 1
        return r

    def _post(self, path: str, **kw) -> httpx.Response:
        r = self.http.post(path, **kw)
        self.statuses[r.status_code] = self.statuses.get(r.status_code, 0) + 1
        return r

    def _listen(self) -> None:
        """The session's server-sent events: every message kept by event id."""
        with self.http.stream("GET", "/gradio_api/queue/data", params={"session_hash": self.session_hash},
                              timeout=None) as r:
            for line in r.iter_lines():
                if self._stop.is_set():
                    return
                if line.startswith("data:"):
                    msg = json.loads(line[5:])
                    self._messages.setdefault(msg.get("event_id", ""), []).append(msg)

    def _join(self, fn_index: int, trigger: int, data: list) -> str:
        body = {"data": data, "event_data": None, "fn_index": fn_index, "trigger_id": trigger,
                "session_hash": self.session_hash}
        r = self._post("/gradio_api/queue/join", json=body)
        r.raise_for_status()
        if self._sse is None or not self._sse.is_alive():   # Gradio closes the stream when no event is pending
            self._sse = threading.Thread(target=self._listen, daemon=True)
            self._sse.start()
        return r.json()["event_id"]

    def _result(self, event_id: str, timeout_s: float = 60) -> list:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for msg in self._messages.get(event_id, []):
                if msg.get("msg") == "process_completed":
                    if not msg.get("success"):
                        raise RuntimeError(f"event {event_id} failed: {msg.get('output')}")
                    return msg["output"]["data"]
            time.sleep(0.05)
        raise TimeoutError(f"event {event_id}: no result in {timeout_s} s")

    # ---- the page's steps ------------------------------------------------------------------------------------
    def start(self, participant_id: str) -> None:
        self._get("/").raise_for_status()                 # the owner cookie (and the proxy's route cookie)
        config = self._get("/config").json()
        buttons = {c["props"].get("value"): c["id"] for c in config["components"] if c.get("type") == "button"}
        self.deps = {tuple(d["targets"][0]): d["id"] for d in config["dependencies"] if d["targets"]}
        self.webcam = next(c["id"] for c in config["components"] if c.get("props", {}).get("elem_id") == "webcam")
        start, self.end_button = buttons["Start session"], buttons["End session"]
        out = self._result(self._join(self.deps[(start, "click")], start, [True, participant_id, None, False]))
        self.token = re.search(r'data-token="([^"]+)"', json.dumps(out).replace('\\"', '"'))[1]
        threading.Thread(target=self._poll_view, daemon=True).start()

    def stream_frames(self, jpeg: bytes, seconds: float) -> None:
        """The webcam: one frame every FRAME_S, as the page streams it."""
        fn, event, t0, n = self.deps[(self.webcam, "stream")], None, time.monotonic(), 0
        while time.monotonic() - t0 < seconds and not self._stop.is_set():
            up = self._post("/gradio_api/upload", files={"files": ("image.jpeg", jpeg, "image/jpeg")})
            frame = {"path": up.json()[0], "orig_name": "image.jpeg", "meta": {"_type": "gradio.FileData"}}
            body = [frame, None]
            if event is None:
                event = self._join(fn, self.webcam, body)
            else:
                self._post(f"/gradio_api/stream/{event}", json={"data": body, "event_data": None, "fn_index": fn,
                                                                  "trigger_id": self.webcam,
                                                                  "session_hash": self.session_hash})
            n += 1
            time.sleep(max(0.0, t0 + n * FRAME_S - time.monotonic()))
        if event is not None:
            self._post(f"/gradio_api/stream/{event}/close")

    def speak(self, cycle: np.ndarray, speech_len: int, seconds: float) -> list[float]:
        """`cycle` (48 kHz int16: a sentence of `speech_len` samples, then silence) posted at real rate for
        `seconds`; returns the wall time each sentence's speech ended."""
        step, n, t0, ends = int(48000 * POST_S), 0, time.monotonic(), []
        while time.monotonic() - t0 < seconds and not self._stop.is_set():
            i = (n * step) % len(cycle)
            self._post("/agf/audio", params={"token": self.token, "rate": "48000"},
                       content=cycle[i:i + step].tobytes())
            if i <= speech_len < i + step:
                ends.append(time.time() - (i + step - speech_len) / 48000)
            n += 1
            time.sleep(max(0.0, t0 + n * POST_S - time.monotonic()))
        return ends

    def end(self) -> None:
        """The End session button: the session is answered to the end, stored as ended, its worker stops."""
        button = next(t for t, ev in self.deps if ev == "click" and t == self.end_button)
        self._result(self._join(self.deps[(button, "click")], button, [None]))

    def _poll_view(self) -> None:
        key, turns = "", 0
        while not self._stop.is_set():
            try:
                r = self._get("/agf/view", params={"token": self.token, "key": key, "wait": 10})
            except httpx.HTTPError:
                time.sleep(0.5)
                continue
            if r.status_code == 403:              # the session is over: stop asking, as the page does
                return
            if r.status_code != 200:
                time.sleep(0.5)
                continue
            key = r.json()["key"]
            now_turns = int(key.split(":")[1])
            self.turn_times += [time.time()] * (now_turns - turns)
            turns = now_turns

    def close(self) -> None:
        self._stop.set()
        self.http.close()
