"""The live loop measured as a participant lives it: headless Chromium with a fake camera (a face photo) and a
fake microphone (sentences synthesised by espeak-ng with short pauses), against `python demo.py`.

    python -m benchmarks.browser --out reports/ [--seconds 40]

Times come from two clocks on the same machine: the page (Date.now(), sampled every 20 ms by an injected
script: when "listening" shows, when partial words show, when a transcript + reply shows) and the server
(`demo.py --metrics-log`: when each microphone chunk arrived, and its loudness every 20 ms). The capture time
of a sample is its block's time on the page minus the samples after it in that block. Speech onsets and ends
are found in the audio the server received, not assumed from the wav: the page starts recording some way into
Chromium's looping fake microphone, and Chromium drops some of the fake microphone's audio under load, so
positions in the wav drift from positions in the stream (0.7 s at the start, 2 s after 40 s, measured).
Writes reports/benchmark_browser.json: one key per target row of issue 11, medians and p95s in seconds,
the machine and the commit. Not a test: tests/test_browser.py checks behaviour with the same kit.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from streaming.live.metrics import ENVELOPE_S

ROOT = Path(__file__).resolve().parent.parent
SENTENCES = [("Yesterday my cat knocked over a glass of water.", "water"),
             ("I am really angry about the broken window.", "window"),
             ("Tomorrow we will go to the beach together.", "beach")]
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream"]
# Samples the page's text every 20 ms; keeps each change of the live words and the conversation with its time,
# and when Enter was pressed in the typed-text box (registered first, so it sees the key before the page does).
OBSERVER = """
window.__agf = [];
window.__agfEnter = [];
window.__agfLong = [];       // the page's main thread busy for 50 ms or more: [start, duration] in seconds
try {
  new PerformanceObserver((list) => { for (const e of list.getEntries())
    window.__agfLong.push([(performance.timeOrigin + e.startTime) / 1000, e.duration / 1000]); })
    .observe({ type: "longtask", buffered: true });
} catch (e) { /* no Long Tasks API */ }
document.addEventListener("keydown", (e) => {
  if (e.key === "Enter" && e.target.closest && e.target.closest("#typed")) window.__agfEnter.push(Date.now() / 1000);
}, true);
setInterval(() => {
  for (const id of ["live-words", "chat", "headline", "said"]) {
    // "said": the participant's turns alone, so a reply that repeats a word cannot be taken for the transcript
    const text = id === "said" ? [...document.querySelectorAll("#chat [data-testid=user]")].map(e => e.innerText).join(" | ")
      : (document.getElementById(id) || {}).innerText || "";
    const last = window.__agf.filter(e => e.id === id).pop();
    if (!last || last.text !== text) window.__agf.push({id, text, t: Date.now() / 1000});
  }
}, 20);
"""


def missing_tools() -> list[str]:
    return [t for t in ("chromium", "ffmpeg", "espeak-ng", "sox") if shutil.which(t) is None]


def make_media(folder: Path, sentences=SENTENCES, pause_s: float = 1.0, lead_s: float = 1.0, tail_s: float = 4.0,
               photo: Path = ROOT / "tests/assets/grace_hopper.jpg") -> tuple[Path, Path, list[tuple[float, float]]]:
    """A 1280x720 y4m of a face photo (a common webcam's size) and a 48 kHz mono wav of the sentences with pauses;
    returns the speech (onset, end) of each sentence in the wav, in seconds, found from its loudness."""
    import soundfile as sf
    folder.mkdir(parents=True, exist_ok=True)
    y4m, wav = folder / "face.y4m", folder / "speech.wav"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-loop", "1", "-i", str(photo), "-t", "3", "-r", "10",
                    "-vf", "scale=1280:720,setsar=1", "-pix_fmt", "yuv420p", str(y4m)], check=True)
    parts, spans, t = [np.zeros(int(48000 * lead_s), np.float32)], [], lead_s
    for i, (sentence, _) in enumerate(sentences):
        raw = folder / f"s{i}.wav"
        subprocess.run(["espeak-ng", "-w", str(raw), sentence], check=True)
        subprocess.run(["sox", str(raw), "-r", "48000", "-c", "1", "-b", "16", str(raw.with_suffix(".48k.wav"))],
                       check=True)
        x, _ = sf.read(raw.with_suffix(".48k.wav"), dtype="float32")
        loud = np.flatnonzero(np.abs(x) > 0.02)
        x = x[loud[0]:loud[-1] + 1]                                      # speech only, no espeak padding
        spans.append((t, t + len(x) / 48000))
        parts += [x, np.zeros(int(48000 * pause_s), np.float32)]
        t += len(x) / 48000 + pause_s
    parts.append(np.zeros(int(48000 * tail_s), np.float32))
    sf.write(wav, np.concatenate(parts), 48000, subtype="PCM_16")
    return y4m, wav, spans


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def demo_server(*args: str, timeout_s: float = 240, prefix: list[str] = (), cpus: set[int] | None = None,
                runner: tuple[str, ...] = ("demo.py",), log_path: Path | None = None):
    """`python demo.py` on a free port (run under `prefix`, e.g. strace; on `cpus` only, if given; through
    `runner`, e.g. benchmarks/memory_probe.py; its output kept in `log_path`, if given); yields its URL; stops
    it afterwards."""
    port = free_port()
    pin = (lambda: os.sched_setaffinity(0, cpus)) if cpus else None
    # a file, not a pipe: a pipe nobody reads fills and stalls the server
    log = open(log_path, "w+") if log_path else tempfile.TemporaryFile("w+")
    proc = subprocess.Popen([*prefix, sys.executable, *runner, "--port", str(port), *args], cwd=ROOT, preexec_fn=pin,
                            env={**os.environ, "HF_HUB_OFFLINE": "1"}, stdout=log, stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + timeout_s
    try:
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if proc.poll() is not None or time.time() > deadline:
                    log.seek(0)
                    raise RuntimeError(f"demo.py did not start: {log.read()[-2000:]}")
                time.sleep(1)
        yield f"http://127.0.0.1:{port}"
    finally:
        if prefix:   # the wrapper (strace) would only detach: stop the server itself, the wrapper then exits
            subprocess.run(["pkill", "-TERM", "-P", str(proc.pid)], check=False)
        else:
            proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def launch(playwright, y4m: Path | None = None, wav: Path | None = None):
    flags = FLAGS + ([f"--use-file-for-fake-video-capture={y4m}"] if y4m else []) + \
        ([f"--use-file-for-fake-audio-capture={wav}"] if wav else [])
    return playwright.chromium.launch(executable_path=shutil.which("chromium"), args=flags)


def start_session(page, url: str, participant: str = "") -> None:
    from playwright.sync_api import expect
    page.goto(url, wait_until="load")
    page.get_by_label("I agree to take part").check()
    if participant:
        page.get_by_label("Participant ID (optional)").fill(participant)
    page.get_by_role("button", name="Start session").click()
    expect(page.get_by_text("started.")).to_be_visible(timeout=30_000)


def start_streams(page, webcam: bool = True) -> float:
    """Webcam (optional) then microphone; returns the wall time the microphone was started."""
    if webcam:
        page.get_by_text("Click to Access Webcam").click()
        # Record once the preview shows a picture, as a person would (a CI run once streamed no frame at all)
        page.wait_for_function("(() => { const v = document.querySelector('#webcam video');"
                               " return v && v.readyState >= 2 && v.videoWidth > 0; })()", timeout=15_000)
        page.locator("#webcam button:has-text('Record')").click()
    page.locator("#mic-button").click()
    page.wait_for_function("window.agfMic && window.agfMic.running", timeout=15_000)
    return time.time()


def stop_microphone(page) -> dict:
    """Stop the microphone; returns the samples the page captured and the samples the server acknowledged."""
    page.locator("#mic-button").click()
    page.wait_for_function("!window.agfMic.running && window.agfMic.sent === window.agfMic.captured",
                           timeout=30_000)
    return page.evaluate("({captured: window.agfMic.captured, sent: window.agfMic.sent, rate: window.agfMic.rate,"
                         " clock: window.agfMic.clock})")


def first_time(events: list[dict], element: str, after: float, test) -> float | None:
    return next((e["t"] for e in events if e["id"] == element and e["t"] >= after and test(e["text"])), None)


def capture_clock(counts: dict) -> tuple[np.ndarray, np.ndarray]:
    """From the page's microphone: stream seconds recorded at the end of each audio block, and when."""
    clock = np.array(counts["clock"], dtype=np.float64)                   # (blocks, 2): samples so far, time
    return clock[:, 0] / counts["rate"], clock[:, 1]


def captured_at(stream_s: float, ends: np.ndarray, times: np.ndarray) -> float:
    """Wall time at which stream second `stream_s` was recorded: its block's time minus what came after it."""
    i = min(int(np.searchsorted(ends, stream_s)), len(ends) - 1)
    return float(times[i] - (ends[i] - stream_s))


def speech_spans(log: list[dict], threshold: float = 0.02, gap_s: float = 0.5,
                 min_s: float = 0.3) -> list[tuple[float, float]]:
    """(onset, end) in stream seconds of each stretch of speech the server received, from the chunks'
    20-ms loudness in the metrics log (chunks arrive in stream order: the page posts one at a time)."""
    loud, t = [], 0.0
    for e in (e for e in log if e["event"] == "chunk"):
        step = max(1, int(e["rate"] * ENVELOPE_S))
        for j, peak in enumerate(e["peaks"]):
            if peak > threshold:
                loud.append((t + j * step / e["rate"], t + min((j + 1) * step, e["samples"]) / e["rate"]))
        t += e["samples"] / e["rate"]
    spans: list[list[float]] = []
    for onset, end in loud:
        if spans and onset - spans[-1][1] < gap_s:
            spans[-1][1] = end
        else:
            spans.append([onset, end])
    return [(a, b) for a, b in spans if b - a >= min_s]


def sentence_spans(spans: list[tuple[float, float]], received_s: float, loop_gap_s: float = 3.0) -> list[tuple]:
    """Which sentence each span is: the wav's loops are told apart by their long silence (tail + lead), and a loop
    cut short by the start of recording keeps its last sentences, one cut by the end its first. Spans that end
    within 1 s of the end of the stream are left out (their words may not have come yet)."""
    loops: list[list] = []
    for span in spans:
        if not loops or span[0] - loops[-1][-1][1] >= loop_gap_s:
            loops.append([])
        loops[-1].append(span)
    out = []
    for i, group in enumerate(loops):
        if len(group) > len(SENTENCES):
            raise RuntimeError(f"{len(group)} stretches of speech in one loop of {len(SENTENCES)} sentences: {group}")
        first = len(SENTENCES) - len(group) if i == 0 else 0
        out += [(span, SENTENCES[first + k]) for k, span in enumerate(group) if span[1] + 1.0 <= received_s]
    return out


def pct(xs: list[float]) -> dict:
    xs = [x for x in xs if x is not None]
    if not xs:
        return {"n": 0}
    return {"median_s": round(float(np.median(xs)), 3), "p95_s": round(float(np.percentile(xs, 95)), 3),
            "n": len(xs), "all_s": [round(x, 3) for x in xs]}


def measure(seconds: float, folder: Path, split: bool = False) -> dict:
    """`split`: the server on CPU 0 and the browser (with this process) on CPU 1, as a participant's browser
    runs on their own machine; otherwise both share every core."""
    from playwright.sync_api import sync_playwright
    y4m, wav, _ = make_media(folder)
    log_path = folder / "metrics.jsonl"
    log_path.unlink(missing_ok=True)                                   # the server appends: start empty
    if split:
        os.sched_setaffinity(0, {1})                                   # inherited by Playwright and Chromium
    with demo_server("--metrics-log", str(log_path), cpus={0} if split else None) as url, sync_playwright() as p:
        browser = launch(p, y4m, wav)
        page = browser.new_context(permissions=["camera", "microphone"],
                                   viewport={"width": 1400, "height": 1800}).new_page()
        page.add_init_script(OBSERVER)
        start_session(page, url, "bench")
        start_streams(page, webcam=True)
        time.sleep(seconds / 2)
        typed = []
        for message in ("I just got some wonderful news!", "This is so frustrating.",       # typed while streaming
                        "What are we doing tomorrow?", "My best friend is moving away."):
            box = page.get_by_placeholder("Say something and press Enter")
            box.fill(message)
            box.press("Enter")
            page.wait_for_function(f"document.getElementById('chat').innerText.includes({json.dumps(message)})",
                                   timeout=30_000)
            typed.append(message)
            time.sleep(2)
        time.sleep(seconds / 2)
        counts = stop_microphone(page)
        time.sleep(3)
        events = page.evaluate("window.__agf")
        typed = list(zip(page.evaluate("window.__agfEnter"), typed))   # (Enter pressed on the page's clock, message)
        counts["typed_timings"] = page.evaluate("window.agfText.timings")   # [sent, answered, shown] per message
        counts["view_timings"] = page.evaluate("window.agfView.timings")    # [answered, turns] per changed view
        counts["long_tasks"] = page.evaluate("window.__agfLong")             # [start, seconds] per long task
        page.screenshot(path=str(folder / "page.png"), full_page=True)
        browser.close()
    (folder / "page.json").write_text(json.dumps({"events": events, "counts": counts}))   # for a closer look
    log = [json.loads(line) for line in log_path.read_text().splitlines()]
    return analyse(log, events, counts, typed)


def analyse(log, events, counts, typed) -> dict:
    ends, arrivals = capture_clock(counts)
    handled = [e for e in log if e["event"] == "typed"]          # the typed turn's end and duration on the server
    # typed -> the message and its reply in the conversation (they arrive together), both on the page's clock
    typed_lat = [first_time(events, "chat", t0, lambda text, m=message: m in text) - t0 for t0, message in typed]
    received_s = sum(e["samples"] / e["rate"] for e in log if e["event"] == "chunk")   # what the server got
    sent_s = counts["captured"] / counts["rate"]                                     # what the page recorded
    final_lat, onset_lat, first_words, found, on_server, to_page, to_answer = [], [], [], [], [], [], []
    for (s_onset, s_end), (sentence, key) in sentence_spans(speech_spans(log), received_s):
        t_onset, t_end = captured_at(s_onset, ends, arrivals), captured_at(s_end, ends, arrivals)
        # the first new occurrence of the key word in the participant's turns since the onset, within 5 s of the
        # end (a sentence heard wrong is not found, rather than matched to the next time it is said)
        before = max([e for e in events if e["id"] == "said" and e["t"] < t_onset], key=lambda e: e["t"],
                     default={"text": ""})["text"].lower().count(key)
        shown = first_time(events, "said", t_onset, lambda text, k=key, c=before: text.lower().count(k) > c)
        shown = shown if shown is not None and shown - t_end <= 5.0 else None
        found.append(shown is not None)
        if shown is not None:
            final_lat.append(shown - t_end)
            final = [e["wall"] for e in log if e["event"] == "final" and key in e["text"].lower()
                     and t_end - 0.5 <= e["wall"] <= shown]
            on_server.append(final[0] - t_end if final else None)
            to_page.append(shown - final[0] if final else None)
            # when the page's long poll brought the new turn: the first answer after the final words with more turns
            answered = next((t for (t, turns), (_, before) in zip(counts["view_timings"][1:], counts["view_timings"])
                             if final and t >= final[0] and turns > before), None)
            to_answer.append(answered - final[0] if answered and final else None)
        # "listening…" with no words yet: this utterance's (the previous one's final words may still be showing)
        listening = first_time(events, "live-words", t_onset - 0.2,
                               lambda text: "listening" in text and not text.split("…", 1)[-1].strip())
        onset_lat.append(None if listening is None else listening - t_onset)
        words = None if listening is None else first_time(
            events, "live-words", listening, lambda text: "…" in text and len(text.split("…", 1)[1].split()) > 1)
        first_words.append(None if words is None or words > t_end + 1 else words - t_onset)
    return {
        "speech_received_over_sent": round(received_s / sent_s, 4) if sent_s else None,
        "speech_received_s": round(received_s, 2), "speech_sent_s": round(float(sent_s), 2),
        "sentences_found": f"{sum(found)}/{len(found)}",
        "end_of_speech_to_transcript_and_reply_on_page": pct(final_lat),
        "speech_onset_to_listening_on_page": pct(onset_lat),
        "speech_onset_to_first_partial_words_on_page": pct(first_words),
        "typed_to_reply_on_page_while_streaming": pct(typed_lat),
        # where the time goes: the server's clock (demo.py --metrics-log) against the page's
        "end_of_speech_to_reply_on_server": pct(on_server),
        "reply_on_server_to_on_page": pct(to_page),
        "reply_on_server_to_view_answer_in_page": pct(to_answer),
        "typed_enter_to_server_start": pct([e["wall"] - e["handler_s"] - t0 for (t0, _), e in zip(typed, handled)]),
        "typed_handler_on_server": pct([e["handler_s"] for e in handled]),
        "typed_server_end_to_answer_in_page": pct([answered - e["wall"] for (_, answered, _), e
                                                   in zip(counts["typed_timings"], handled)]),
        "typed_answer_to_shown_in_page": pct([shown - answered for _, answered, shown in counts["typed_timings"]]),
    }


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.browser", description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="reports")
    ap.add_argument("--seconds", type=float, default=40.0, help="how long the microphone streams")
    ap.add_argument("--work", default="/tmp/agf_browser_bench", help="scratch folder for media and logs")
    ap.add_argument("--split-cores", action="store_true",
                    help="server on CPU 0, browser on CPU 1 (a participant's browser is on another machine)")
    args = ap.parse_args(argv)
    if missing_tools():
        raise SystemExit(f"needs {', '.join(missing_tools())} (apt-get install chromium ffmpeg espeak-ng sox)")
    if args.split_cores and (os.cpu_count() or 1) < 2:
        raise SystemExit(f"--split-cores needs 2 CPUs; this machine has {os.cpu_count()}")
    result = measure(args.seconds, Path(args.work), args.split_cores)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout
    report = {"machine": {"cpu_count": os.cpu_count(), "load_avg_1m_at_end": os.getloadavg()[0]},
              "cores": "server on CPU 0, browser on CPU 1" if args.split_cores else "server and browser share all",
              "commit": commit.strip(), "seconds_streamed": args.seconds, **result}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "benchmark_browser.json").write_text(json.dumps(report, indent=2))
    print(json.dumps({k: (v if not isinstance(v, dict) else {kk: vv for kk, vv in v.items() if kk != "all_s"})
                      for k, v in report.items()}, indent=2))
    return report


if __name__ == "__main__":
    main()
