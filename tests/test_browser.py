"""End to end in a real browser: headless Chromium (Debian package) driven by Playwright, with a fake camera
fed from a face photo and a fake microphone fed from speech synthesised by espeak-ng (DESIGN.md section 6)."""
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
OUTPUT = ROOT / "tests" / "output"
SENTENCE = "I am so happy to see you again today."
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    for tool in ("chromium", "ffmpeg", "espeak-ng", "sox"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed (apt-get install chromium ffmpeg espeak-ng sox)")
    pytest.importorskip("playwright.sync_api", reason="pip install playwright (no browser download needed)")
    folder = tmp_path_factory.mktemp("media")
    y4m, wav, raw = folder / "face.y4m", folder / "speech.wav", folder / "raw.wav"
    subprocess.run(["ffmpeg", "-v", "error", "-loop", "1", "-i", str(ROOT / "tests/assets/grace_hopper.jpg"),
                    "-t", "3", "-r", "10", "-vf", "scale=640:480,setsar=1", "-pix_fmt", "yuv420p", str(y4m)],
                   check=True)
    subprocess.run(["espeak-ng", "-w", str(raw), SENTENCE], check=True)
    # Chromium loops the file: speech, then 3 s of silence so the utterance ends
    subprocess.run(["sox", str(raw), "-r", "48000", "-c", "1", "-b", "16", str(wav), "pad", "1", "3"], check=True)
    return y4m, wav


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    port = _free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    store = f"sqlite:///{tmp_path_factory.mktemp('store')}/study.db"
    proc = subprocess.Popen([sys.executable, "demo.py", "--port", str(port), "--store", store], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 180
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if proc.poll() is not None:
                pytest.fail(f"demo.py exited: {proc.stdout.read()[-2000:]}")
            time.sleep(1)
    else:
        proc.kill()
        pytest.fail("demo.py did not start listening within 180 s")
    yield url
    proc.terminate()
    proc.wait(timeout=30)


def test_live_session_in_chromium(media, server):
    from playwright.sync_api import expect, sync_playwright
    y4m, wav = media
    OUTPUT.mkdir(parents=True, exist_ok=True)
    flags = FLAGS + [f"--use-file-for-fake-video-capture={y4m}", f"--use-file-for-fake-audio-capture={wav}"]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=shutil.which("chromium"), args=flags)
        context = browser.new_context(permissions=["camera", "microphone"], accept_downloads=True,
                                      viewport={"width": 1400, "height": 1800})
        page = context.new_page()
        page.goto(server, wait_until="load")
        page.get_by_label("I agree to take part").check()
        page.get_by_label("Participant ID (optional)").fill("E2E")
        page.get_by_role("button", name="Start session").click()
        expect(page.get_by_text("started.")).to_be_visible(timeout=30_000)

        # typed text -> prediction and reply
        box = page.get_by_placeholder("Say something and press Enter")
        box.fill("We won the championship, this is amazing!")
        box.press("Enter")
        expect(page.locator("#status")).to_contain_text("words: ok", timeout=30_000)

        # webcam: access, then start streaming
        page.get_by_text("Click to Access Webcam").click()
        page.locator("#webcam button:has-text('Record')").click()
        expect(page.locator("#status")).to_contain_text("face: ok", timeout=30_000)

        # microphone: record; the fake device plays the sentence
        page.locator("#mic button:has-text('Record')").click()
        expect(page.get_by_text("happy to see you", exact=False).first).to_be_visible(timeout=60_000)
        expect(page.locator("#status")).to_contain_text("voice: ok", timeout=30_000)
        assert page.locator(".js-plotly-plot").count() >= 3
        page.screenshot(path=str(OUTPUT / "live_session.png"), full_page=True)

        # a second participant, while the first one's webcam and microphone still stream, is not blocked
        # and has a session of their own
        other = browser.new_context(permissions=["camera", "microphone"]).new_page()
        other.goto(server, wait_until="load")
        other.get_by_label("I agree to take part").check()
        other.get_by_role("button", name="Start session").click()
        expect(other.get_by_text("started.")).to_be_visible(timeout=30_000)
        other.get_by_placeholder("Say something and press Enter").fill("I am worried about tomorrow.")
        other.get_by_placeholder("Say something and press Enter").press("Enter")
        expect(other.locator("#status")).to_contain_text("words: ok", timeout=30_000)
        expect(other.get_by_text("worried about tomorrow").first).to_be_visible()
        assert other.get_by_text("championship").count() == 0
        other.context.close()

        # export downloads the session with its rows
        page.get_by_role("button", name="Export session (JSON, CSV, Parquet)").click()
        links = page.locator("#export-files a[download]")
        expect(links.nth(2)).to_be_visible(timeout=30_000)
        exported = {}
        for i in range(links.count()):
            with page.expect_download() as info:
                links.nth(i).click()
            exported[info.value.suggested_filename] = Path(info.value.path()).read_bytes()
        exported = {k: v.decode() for k, v in exported.items() if not k.endswith(".parquet")}
        json_text = next(v for k, v in exported.items() if k.endswith(".json"))
        csv_text = next(v for k, v in exported.items() if k.endswith(".csv"))
        assert "championship" in json_text and "happy to see you" in json_text.lower()
        assert csv_text.startswith("study,condition,participant_id,session_id,wall_time,t,source,label")
        assert csv_text.count("\n") >= 3
        browser.close()
