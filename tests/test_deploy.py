"""deploy/: several demo.py replicas behind nginx over HTTPS on one PostgreSQL store (issue 26, items 3-4).
The end-to-end test runs the pilot command itself with two replicas and two browser participants; it skips
where nginx, PostgreSQL, chromium or the media tools are absent."""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from deploy.certificate import check_certificate, self_signed
from deploy.pilot import parse
from deploy.proxy import Nginx, nginx_binary, render_config

ROOT = Path(__file__).resolve().parent.parent
ADMIN = "pilot-password"


def free_ports(n: int, after: int = 0) -> int:
    """The first of `n` consecutive free ports (above `after`)."""
    for first in range(max(after + 1, 21000 + os.getpid() % 5000), 60000, 7):
        try:
            for p in range(first, first + n):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", p))
            return first
        except OSError:
            continue
    raise RuntimeError("no free ports")


# ---- configuration and bad input ---------------------------------------------------------------------------
def test_nginx_config_pins_each_replica_and_nginx_accepts_it(tmp_path):
    cert, key = tmp_path / "c.pem", tmp_path / "k.pem"
    text = render_config([7001, 7002], "127.0.0.1:8443", cert, key, tmp_path)
    assert "upstream agf_r1 { server 127.0.0.1:7001 max_fails=0; }" in text
    assert "upstream agf_r2 { server 127.0.0.1:7002 max_fails=0; }" in text
    assert "r2 agf_r2;" in text and '"~127\\.0\\.0\\.1:7002$" r2;' in text
    assert "listen 127.0.0.1:8443 ssl;" in text and f"ssl_certificate {cert};" in text and "{{" not in text
    if nginx_binary() is None or shutil.which("openssl") is None:
        pytest.skip("nginx or openssl not installed (apt-get install nginx)")
    cert, key = self_signed(tmp_path / "tls", ["localhost", "127.0.0.1"])
    nginx = Nginx(tmp_path, render_config([7001, 7002], "127.0.0.1:8443", cert, key, tmp_path))
    check = subprocess.run(nginx._cmd("-t"), capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    assert (tmp_path / "html" / "agf-stopped.html").read_text().count("saved") == 1
    assert "saved" in json.loads((tmp_path / "html" / "agf-stopped.json").read_text())["error"]


def test_missing_certificate_files_are_named(tmp_path):
    cert = tmp_path / "site.crt"
    cert.write_text("-----BEGIN CERTIFICATE-----\n")
    with pytest.raises(FileNotFoundError) as e:
        check_certificate(cert, tmp_path / "site.key")
    assert "--key" in str(e.value) and "site.key" in str(e.value) and "--cert" not in str(e.value)
    with pytest.raises(FileNotFoundError, match=r"--cert '/nope/a.crt'.*--key '/nope/a.key'"):
        check_certificate("/nope/a.crt", "/nope/a.key")
    out = subprocess.run([sys.executable, "-m", "deploy.pilot", "--cert", "/nope/a.crt", "--key", str(cert),
                          "--run", str(tmp_path / "run")], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode != 0
    assert out.stderr.strip().splitlines()[-1].startswith("python -m deploy.pilot: certificate files: --cert "
                                                          "'/nope/a.crt': no such file")


def test_the_pilot_refuses_a_store_that_is_not_postgresql():
    with pytest.raises(SystemExit):
        parse(["--self-signed", "--store", "sqlite:///studies/agf.db"])
    o = parse(["--self-signed", "--replicas", "3", "--", "--study", "s1"])
    assert o.replicas == 3 and o.demo_args == ["--study", "s1"]


def test_a_replica_that_cannot_reach_postgresql_refuses_to_start_with_the_url(tmp_path):
    if shutil.which("openssl") is None:
        pytest.skip("openssl not installed")
    port = free_ports(1)             # nothing listens there
    url = f"postgresql+psycopg://agf:s3cret@127.0.0.1:{port}/agf"
    out = subprocess.run([sys.executable, "-m", "deploy.pilot", "--self-signed", "--replicas", "1", "--store", url,
                          "--run", str(tmp_path), "--first-port", str(free_ports(1, port))], cwd=ROOT,
                         capture_output=True, text=True, timeout=240, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert out.returncode != 0
    last = out.stderr.strip().splitlines()[-1]
    assert "replica 1 stopped (exit 1): python demo.py: cannot open the study store" in last, last
    assert f"'postgresql+psycopg://agf:***@127.0.0.1:{port}/agf'" in last, last
    assert "s3cret" not in out.stderr + (tmp_path / "replica-1.log").read_text()


def test_replicas_starting_together_on_a_new_database_all_open_the_store(postgres_url):
    """Two replicas' CREATE TABLE at once raced on PostgreSQL (duplicate key in pg_type) and one refused to
    start: the schema is made under an advisory lock."""
    import threading

    import sqlalchemy as sa

    from streaming.study.store import StudyStore
    name = f"fresh_{os.getpid()}"
    admin = sa.create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(sa.text(f"CREATE DATABASE {name}"))
    url = postgres_url.replace("/postgres?", f"/{name}?")
    failures, stores = [], []

    def open_store():
        try:
            stores.append(StudyStore(url))
        except RuntimeError as e:
            failures.append(str(e))
    threads = [threading.Thread(target=open_store) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == [] and len(stores) == 6
    assert {"sessions", "timeline", "utterances"} <= set(sa.inspect(stores[0].engine).get_table_names())
    for store in stores:
        store.close()
    admin.dispose()


# ---- two replicas, the proxy, PostgreSQL and two browsers ----------------------------------------------------
@pytest.fixture(scope="module")
def pilot(tmp_path_factory):
    from benchmarks.browser import missing_tools
    missing = ["nginx"] * (nginx_binary() is None) + ["openssl"] * (shutil.which("openssl") is None) + missing_tools()
    if missing:
        pytest.skip(f"{', '.join(missing)} not installed (apt-get install nginx chromium ffmpeg espeak-ng sox)")
    pytest.importorskip("playwright.sync_api", reason="pip install playwright (no browser download needed)")
    from deploy.postgres import LocalPostgres, PostgresMissing
    try:
        LocalPostgres(tmp_path_factory.mktemp("pg-check"))
    except PostgresMissing as e:
        pytest.skip(str(e))
    run, port, first = Path(tempfile.mkdtemp(prefix="agf-pilot-")), free_ports(1), free_ports(2, free_ports(1))
    run.chmod(0o755)                  # PostgreSQL runs as its own user (pytest's folders are private)
    log = open(run / "pilot.out", "w+")
    proc = subprocess.Popen([sys.executable, "-m", "deploy.pilot", "--replicas", "2", "--self-signed", "--run",
                             str(run), "--listen", f"127.0.0.1:{port}", "--first-port", str(first), "--",
                             "--study", "pilot1", "--admin-password", ADMIN], cwd=ROOT, stdout=log,
                            stderr=subprocess.STDOUT, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    deadline = time.time() + 400
    while not (run / "pilot.json").exists():
        if proc.poll() is not None or time.time() > deadline:
            proc.kill()
            log.seek(0)
            text = log.read()[-3000:]
            shutil.rmtree(run, ignore_errors=True)
            pytest.fail(f"the pilot did not start: {text}")
        time.sleep(1)
    yield proc, run, json.loads((run / "pilot.json").read_text())
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        proc.wait(90)
    shutil.rmtree(run, ignore_errors=True)


def participant(browser, url: str, pid: str, errors: list):
    from benchmarks.browser import start_session
    context = browser.new_context(permissions=["camera", "microphone"], ignore_https_errors=True,
                                  viewport={"width": 1400, "height": 1400})
    page = context.new_page()
    page.on("response", lambda r: errors.append(f"{pid} {r.status} {r.url.split('?')[0]}") if r.status >= 400
            else None)
    start_session(page, url, pid)
    return page


def route_of(page) -> str:
    return next(c["value"] for c in page.context.cookies() if c["name"] == "agf_route")


def say(page, text: str) -> None:
    from playwright.sync_api import expect
    box = page.get_by_placeholder("Say something and press Enter")
    box.fill(text)
    box.press("Enter")
    expect(page.locator("#chat")).to_contain_text(text, timeout=60_000)


def researcher_sees(browser, url: str, route: str, participants: list[str]) -> None:
    """The researcher view served by replica `route` lists every participant's session."""
    from playwright.sync_api import expect
    context = browser.new_context(ignore_https_errors=True)
    context.add_cookies([{"name": "agf_route", "value": route, "url": url}])
    page = context.new_page()
    page.goto(f"{url}researcher", wait_until="load")
    page.locator("#admin-password input").fill(ADMIN)
    page.get_by_role("button", name="Unlock").click()
    for pid in participants:
        expect(page.locator("#sessions")).to_contain_text(pid, timeout=30_000)
    assert route_of(page) == route
    context.close()


def test_two_participants_through_the_proxy_then_a_replica_is_killed(pilot, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    from benchmarks.browser import SENTENCES, launch, make_media, start_streams
    from streaming.study.store import StudyStore
    proc, run, info = pilot
    url, store = info["url"], StudyStore(info["store"])
    y4m, wav, _ = make_media(tmp_path / "media")
    errors: list[str] = []
    with sync_playwright() as p:
        browser = launch(p, y4m, wav)
        a = participant(browser, url, "P1", errors)
        b = participant(browser, url, "P2", errors)
        start_streams(a, webcam=True)                       # webcam frames and microphone posts through the proxy
        say(b, "I am worried about tomorrow.")
        say(a, "We won the championship, this is amazing!")
        expect(a.locator("#chat")).to_contain_text(SENTENCES[-1][1], timeout=120_000)
        expect(a.locator("#status")).to_contain_text("face: ok", timeout=30_000)
        assert errors == [], errors
        b.get_by_role("button", name="End session").click()
        expect(b.get_by_text("ended. Thank you.")).to_be_visible(timeout=30_000)
        for route in ("r1", "r2"):                          # the researcher view on either replica sees both
            researcher_sees(browser, url, route, ["P1", "P2"])
        # an ended session's long poll is answered 403: that is how its page learns to stop asking
        assert [e for e in errors if not (e.startswith("P2 403 ") and e.endswith("/agf/view"))] == [], errors

        # every request that named a replica (all of a page's after its first) reached that replica
        addr = {f"r{i + 1}": f"127.0.0.1:{r['port']}" for i, r in enumerate(info["replicas"])}
        lines = (run / "nginx-access.log").read_text().splitlines()
        pinned = [re.search(r"route=(r\d) upstream=(\S+)", x) for x in lines]
        pinned = [m for m in pinned if m]
        assert len(pinned) > 50 and all(m[2] == addr[m[1]] for m in pinned), lines[-20:]
        kinds = {x.rsplit(" ", 1)[1] for x in lines if re.search(r"route=r\d", x)}   # the page's kinds of request
        assert {"/gradio_api/queue/join", "/gradio_api/queue/data", "/agf/audio", "/agf/view", "/agf/text"} <= kinds
        assert any(k.startswith("/gradio_api/stream/") for k in kinds), kinds             # the webcam's frames
        assert not [x for x in lines if re.match(r"\S+ [45]\d\d ", x)
                    and not re.match(r"\S+ 403 .* GET /agf/view$", x)], lines

        # both sessions in the one store, complete, each with its own words only
        sessions = {s["participant_id"]: s for s in store.sessions("pilot1")}
        assert set(sessions) == {"P1", "P2"} and sessions["P2"]["state"] == "ended"
        said = {pid: " ".join(u["text"] for u in store.rows("utterances", s["session_id"])).lower()
                for pid, s in sessions.items()}
        assert "championship" in said["P1"] and all(k in said["P1"] for _, k in SENTENCES), said
        assert "worried" in said["P2"] and "championship" not in said["P2"] and "worried" not in said["P1"]
        assert store.rows("timeline", sessions["P1"]["session_id"])

        # the replica of P1 is killed mid-session: its rows stay, and its page says what happened
        a_id = sessions["P1"]["session_id"]
        def committed():
            return {t: {json.dumps(r, sort_keys=True, default=str) for r in store.rows(t, a_id)}
                    for t in ("utterances", "replies", "timeline")}
        before = committed()
        victim_route = route_of(a)
        victim = info["replicas"][int(victim_route[1:]) - 1]
        os.kill(victim["pid"], signal.SIGKILL)
        banner = a.locator("#agf-stopped")
        expect(banner).to_be_visible(timeout=30_000)
        expect(banner).to_contain_text("Everything you said until then is saved")
        a.screenshot(path=str(tmp_path / "stopped.png"))
        import httpx                                        # the stopped answers: a page, or JSON for the page's
        gone = {"agf_route": victim_route}                  # requests; both clear the route cookie
        page_load = httpx.get(url, cookies=gone, headers={"Accept": "text/html"}, verify=False)
        request = httpx.get(f"{url}gradio_api/queue/data", cookies=gone, verify=False)
        assert page_load.status_code == request.status_code == 502
        assert "Everything you said until then is saved" in page_load.text and "saved" in request.json()["error"]
        assert all("agf_route=;" in r.headers["set-cookie"] for r in (page_load, request))
        after = committed()
        assert all(before[t] <= after[t] for t in before) and len(before["utterances"]) >= 4, before
        browser.close()
    # the pilot starts the killed replica again; its start marks the cut-off session interrupted
    deadline = time.time() + 300
    while store.session(a_id)["state"] != "interrupted" and time.time() < deadline:
        time.sleep(2)
    assert store.session(a_id)["state"] == "interrupted"
    store.close()

    # Ctrl-C stops everything (the replica started again too)
    info = json.loads((run / "pilot.json").read_text())
    proc.send_signal(signal.SIGINT)
    assert proc.wait(90) == 0
    for pid in [r["pid"] for r in info["replicas"]] + [info["nginx"]["pid"]]:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    assert not (run / "postgres" / "data" / "postmaster.pid").exists()
