"""Issue 12 end to end on a launched server: the consent text is true (no streamed media left on disk without
opt-in; with opt-in only in the study store), no other client can reach a session (no API endpoints, not by
session hash, not by export URL), and the researcher view works behind its password. Headless Chromium with
a fake camera and microphone (DESIGN.md section 6); skips where chromium/ffmpeg/espeak-ng/sox are absent."""
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest

from benchmarks.browser import FLAGS, free_port as _free_port, start_streams
from test_browser import ROOT, media  # noqa: F401  (media is a fixture)

OUTPUT = ROOT / "tests" / "output"
MEDIA_SUFFIXES = (".wav", ".webm", ".webp", ".png", ".jpg", ".jpeg", ".npz", ".mp3", ".ogg", ".flac")


def media_files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in MEDIA_SUFFIXES]


@pytest.fixture(scope="module")
def server(media, tmp_path_factory):  # noqa: F811
    root = tmp_path_factory.mktemp("server")
    tmp = root / "tmp"  # the server's whole temp area: Gradio's folder and the export folders live here
    tmp.mkdir()
    port, db = _free_port(), root / "study.db"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TMPDIR": str(tmp), "AGF_ADMIN_PASSWORD": "s3cret-pw"}
    log = root / "server.log"   # a file, not a pipe: a pipe nobody reads fills and stalls the server
    out = log.open("w")
    proc = subprocess.Popen([sys.executable, "demo.py", "--port", str(port), "--store", f"sqlite:///{db}",
                             "--study", "e2e", "--retention-days", "30"], cwd=ROOT, env=env, stdout=out,
                            stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 180
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if proc.poll() is not None:
                pytest.fail(f"demo.py exited: {log.read_text()[-3000:]}")
            time.sleep(1)
    else:
        proc.kill()
        pytest.fail("demo.py did not start listening within 180 s")
    from streaming.study.store import StudyStore
    yield {"url": f"http://127.0.0.1:{port}", "tmp": tmp, "store": StudyStore(f"sqlite:///{db}"), "proc": proc,
           "log": log}
    proc.terminate()
    proc.wait(timeout=30)
    out.close()


@pytest.fixture(scope="module")
def browser(media):  # noqa: F811
    from playwright.sync_api import sync_playwright
    y4m, wav, _ = media
    flags = FLAGS + [f"--use-file-for-fake-video-capture={y4m}", f"--use-file-for-fake-audio-capture={wav}"]
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=shutil.which("chromium"), args=flags)
        yield b
        b.close()


def _start(browser, url: str, keep_raw: bool = False, query: str = ""):
    from playwright.sync_api import expect
    context = browser.new_context(permissions=["camera", "microphone"], accept_downloads=True,
                                  viewport={"width": 1400, "height": 1800})
    page = context.new_page()
    hashes = []
    page.on("request", lambda r: hashes.append(json.loads(r.post_data)["session_hash"])
            if "/queue/join" in r.url and r.post_data else None)
    page.goto(url + query, wait_until="load")
    page.get_by_label("I agree to take part").check()
    if keep_raw:
        page.get_by_label("Keep my raw audio and face crops in the study store").check()
    page.get_by_role("button", name="Start session").click()
    expect(page.locator("#started")).to_contain_text("started.", timeout=30_000)
    return context, page, hashes[-1], _session_id(page)


def _session_id(page) -> str:
    """The ID in "Session <id> ... started." (the line can also hold Gradio's "processing | 0.2s" for a moment)."""
    text = page.locator("#started").inner_text()
    found = re.search(r"Session ([0-9a-f]+)\b", text)
    assert found, f"no session ID in {text!r}"
    return found.group(1)


def _stream(page, seconds: float):
    from playwright.sync_api import expect
    start_streams(page, webcam=True)
    try:
        expect(page.locator("#status")).to_contain_text("face: ok", timeout=30_000)
    except AssertionError:   # keep what the page showed, for the CI log
        OUTPUT.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(OUTPUT / "privacy_no_face.png"), full_page=True)
        raise
    expect(page.locator("#status")).to_contain_text("voice: ok", timeout=60_000)
    page.wait_for_timeout(seconds * 1000)


def _tail(server, chars: int = 4000) -> str:
    """The end of the server's log, for a failure message."""
    return server["log"].read_text(errors="replace")[-chars:]


def _poll(fn, limit_s: float = 30.0):
    """fn() until it is falsy (or the limit): a deadline for the sweeper, not a timing assertion."""
    end = time.time() + limit_s
    while (value := fn()) and time.time() < end:
        time.sleep(0.5)
    return value


def test_another_client_gets_nothing(server, browser):
    import httpx
    from gradio_client import Client
    from playwright.sync_api import expect
    url = server["url"]
    context, page, session_hash, session_id = _start(browser, url, query="?pid=A01&condition=calm")
    box = page.get_by_placeholder("Say something and press Enter")
    box.fill("My secret: we won the championship!")
    box.press("Enter")
    expect(page.locator("#status")).to_contain_text("words: ok", timeout=30_000)
    s = server["store"].session(session_id)
    assert (s["participant_id"], s["condition"], s["study"]) == ("A01", "calm", "e2e")  # from the link

    page.get_by_role("button", name="Export session (JSON, CSV, Parquet)").click()
    links = page.locator("#export-files a[download]")
    expect(links.nth(2)).to_be_visible(timeout=30_000)
    href = links.first.get_attribute("href")

    # a plain client without the browser's cookie: no API, no export, no queue of that session
    assert httpx.get(f"{url}/{href}").status_code == 404
    config = httpx.get(f"{url}/config").json()
    export_fn = next(d["id"] for d in config["dependencies"] if d.get("api_name") == "on_export"
                     or any(t[0] == _button_id(config, "Export session (JSON, CSV, Parquet)") for t in d["targets"]))
    join = {"data": [None], "fn_index": export_fn, "session_hash": session_hash, "event_data": None,
            "trigger_id": None}
    assert httpx.post(f"{url}/gradio_api/queue/join", json=join).status_code == 403
    assert httpx.get(f"{url}/gradio_api/queue/data", params={"session_hash": session_hash}).status_code == 403
    client = Client(url, verbose=False)
    assert client.view_api(return_format="dict", print_info=False)["named_endpoints"] == {}
    client.session_hash = session_hash
    with pytest.raises(Exception):
        client.predict(api_name="/on_export")

    # a second browser, with a cookie of its own, using the first one's session hash
    other = browser.new_context()
    other_page = other.new_page()
    other_page.goto(url, wait_until="load")
    assert other.request.post(f"{url}/gradio_api/queue/join", data=join).status == 403
    assert other.request.get(f"{url}/{href}").status == 404
    other.close()

    # the owner downloads each file once
    with page.expect_download() as info:
        links.first.click()
    data = json.loads(Path(info.value.path()).read_text())
    assert data["participant_id"] == "A01" and "championship" in data["utterances"][0]["text"]
    assert data["provenance"]["models"]["fusion.pt"] and data["consent"]["version"]
    assert page.request.get(f"{url}/{href}").status == 410  # spent: its owner is told so (issue 21.9)
    context.close()


def _button_id(config: dict, label: str) -> int:
    return next(c["id"] for c in config["components"] if c.get("props", {}).get("value") == label)


def test_streaming_without_opt_in_leaves_no_media_on_disk(server, browser):
    from playwright.sync_api import expect
    tmp = server["tmp"]
    context, page, _, session_id = _start(browser, server["url"])
    _stream(page, 20)
    seen = len(media_files(tmp))  # what is on disk while streaming (the sweeper keeps it to seconds' worth)
    page.get_by_role("button", name="End session").click()
    expect(page.locator("#started")).to_contain_text("ended", timeout=30_000)
    context.close()
    left = _poll(lambda: media_files(tmp))
    assert left == [], f"{len(left)} media files left on disk (seen while streaming: {seen}): {left[:5]}"
    store = server["store"]
    assert store.rows("media", session_id) == []
    assert len(store.rows("timeline", session_id)) > 20 and store.rows("utterances", session_id)
    assert store.session(session_id)["state"] == "ended"


def test_with_opt_in_media_is_only_in_the_store(server, browser):
    context, page, _, session_id = _start(browser, server["url"], keep_raw=True)
    _stream(page, 5)
    context.close()
    assert _poll(lambda: media_files(server["tmp"])) == []
    kinds = [k for k, _, _ in server["store"].media_items(session_id)]
    assert kinds.count("audio") >= 1 and kinds.count("face") >= 1


def test_researcher_view_behind_its_password(server, browser):
    from playwright.sync_api import expect
    from streaming.study.store import ConsentRecord, SessionRecord
    writer = server["store"].open_session(SessionRecord(session_id="r01session", study="e2e", participant_id="R01",
                                                        condition="B", consent=ConsentRecord("2")))
    writer.timeline({"t": 0.5, "label": "joy", "p_joy": 0.9})
    OUTPUT.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(accept_downloads=True, viewport={"width": 1600, "height": 1200})
    page = context.new_page()
    page.goto(server["url"] + "/researcher", wait_until="load")
    page.locator("#admin-password input").fill("wrong")
    page.get_by_role("button", name="Unlock").click()
    expect(page.get_by_text("Wrong password.").first).to_be_visible(timeout=30_000)
    assert not page.locator("#researcher").is_visible()
    page.locator("#admin-password input").fill("s3cret-pw")
    page.get_by_role("button", name="Unlock").click()
    expect(page.locator("#researcher")).to_be_visible(timeout=30_000)
    expect(page.locator("#sessions")).to_contain_text("R01", timeout=30_000)
    page.get_by_role("button", name="Download all (this study)").click()
    links = page.locator("#researcher-files a[download]")
    expect(links.nth(2)).to_be_visible(timeout=30_000)
    page.screenshot(path=str(OUTPUT / "researcher_view.png"), full_page=True)
    with page.expect_download() as info:
        links.nth(1).click()
    csv = Path(info.value.path()).read_text()
    assert csv.startswith("study,condition,participant_id,session_id,wall_time") and "e2e,B,R01,r01session" in csv
    context.close()


TIMELINE_X = "(document.querySelector('#timeline svg')?.dataset.t ?? '').split(' ').filter(Boolean).map(Number)"
MESSAGES = """Object.fromEntries(["user", "bot"].map(role =>
    [role, [...document.querySelectorAll(`#chat [data-testid="${role}"]`)].map(e => e.innerText.trim())]))"""


def test_a_reload_mid_session_keeps_every_committed_row(server, browser):
    """Stream, type, reload the tab: the first session's rows are all in the store (every timeline point the
    page plotted, each utterance and reply it showed), the session is marked interrupted with its end time,
    and the reloaded page starts a session of its own."""
    from playwright.sync_api import expect
    store = server["store"]
    context, page, first_hash, first_id = _start(browser, server["url"], query="?pid=RL01")
    assert store.session(first_id) is not None, f"session {first_id!r} is not in the store: {_tail(server)}"
    _stream(page, 3)
    box = page.get_by_placeholder("Say something and press Enter")
    box.fill("I finally finished the marathon today!")
    box.press("Enter")
    expect(page.locator("#chat")).to_contain_text("marathon", timeout=30_000)
    page.wait_for_function(f"{TIMELINE_X}.length > 5", timeout=30_000)
    plotted = page.evaluate(TIMELINE_X)                       # what the page showed just before the reload
    shown = page.evaluate(MESSAGES)

    page.reload(wait_until="load")
    still_active = _poll(lambda: (store.session(first_id) or {}).get("state") == "active", 60)
    assert still_active is False, "unload never ended it"
    first = store.session(first_id)
    assert first is not None, f"session {first_id!r} left the store at the reload: {_tail(server)}"
    assert first["state"] == "interrupted" and first["ended"] >= first["started"] and first["participant_id"] == "RL01"
    assert first["latency"], "the per-stage latencies were not recorded at the reload"
    rows = store.rows("timeline", first_id)
    stored_t = {r["t"] for r in rows}
    assert set(plotted) <= stored_t, f"{len(set(plotted) - stored_t)} plotted points are not in the store"
    said, replied = store.rows("utterances", first_id), store.rows("replies", first_id)
    typed = [u for u in said if u["source"] == "typed"]
    assert [u["text"] for u in typed] == ["I finally finished the marathon today!"]
    assert len(said) == len(replied) >= len(shown["bot"]) >= 1  # and what was said after the snapshot
    for message in shown["user"]:                             # "text  (source, emotion)", as the page shows it
        assert any(message.startswith(u["text"]) for u in said), message
    assert [r["text"] for r in replied[:len(shown["bot"])]] == shown["bot"]
    # nothing is written to the first session after its end was recorded (its worker stopped first)
    ended_after_s = (datetime.fromisoformat(first["ended"]) - datetime.fromisoformat(first["started"])).total_seconds()
    assert max(stored_t) <= ended_after_s + 0.002                # ms rounding of t and of the ISO times

    # the reloaded tab: a new Gradio session, the consent form again, and a session of its own
    page.get_by_label("I agree to take part").check()
    page.get_by_role("button", name="Start session").click()
    expect(page.locator("#started")).to_contain_text("started.", timeout=30_000)
    second_id = _session_id(page)
    assert second_id != first_id and store.session(second_id)["state"] == "active"
    box = page.get_by_placeholder("Say something and press Enter")
    box.fill("Second page, second session.")
    box.press("Enter")
    expect(page.locator("#chat")).to_contain_text("second session", timeout=30_000)
    assert "marathon" not in page.locator("#chat").inner_text()
    store.flush()
    assert len(store.rows("timeline", first_id)) == len(rows)   # the new session writes only to its own
    assert [u["text"] for u in store.rows("utterances", second_id)] == ["Second page, second session."]
    context.close()


def test_server_stop_removes_its_temp_folders(server):
    proc = server["proc"]
    proc.terminate()
    proc.wait(timeout=30)
    left = [p.name for p in server["tmp"].iterdir() if p.name.startswith(("agf-gradio-", "agf-exports-"))]
    assert left == [] and media_files(server["tmp"]) == []
