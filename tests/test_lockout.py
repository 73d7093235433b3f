"""The researcher password: constant-time comparison, a cooling-off period after repeated failures from one
client, logs without the password. The clock is injected; nothing sleeps."""
import logging
from types import SimpleNamespace

import pytest

import streaming.study.lockout as lockout
from streaming.study.lockout import LockoutOptions, LoginRefused, PasswordGate, client_of

PASSWORD = "s3cret-pässword"


class Clock:
    def __init__(self):
        self.t = 1000.0

    def __call__(self):
        return self.t


@pytest.fixture()
def gate():
    clock, slept = Clock(), []
    g = PasswordGate(PASSWORD, LockoutOptions(max_failures=5, window_s=600, lockout_s=900), clock=clock,
                     sleep=slept.append)
    g.clock_, g.slept = clock, slept
    return g


def test_five_failures_lock_the_client_out_then_it_may_try_again(gate, caplog):
    caplog.set_level(logging.WARNING, logger="streaming.study.lockout")
    for i in range(4):
        with pytest.raises(LoginRefused, match="^Wrong password.$"):
            gate.check(f"guess-{i}", "198.51.100.1")
        gate.clock_.t += 60
    with pytest.raises(LoginRefused, match="try again in 15 minutes"):
        gate.check("guess-4", "198.51.100.1")                        # the fifth within 10 minutes
    assert gate.slept == [1.0] * 5                                   # each failure also waited
    with pytest.raises(LoginRefused, match="Too many wrong passwords from your address: try again in 15 min"):
        gate.check(PASSWORD, "198.51.100.1")                          # locked: even the right password
    assert gate.check(PASSWORD, "198.51.100.2")                       # another client is not affected
    gate.clock_.t += 600
    with pytest.raises(LoginRefused, match="try again in 5 minutes"):
        gate.check(PASSWORD, "198.51.100.1")
    gate.clock_.t += 301
    assert gate.locked_for("198.51.100.1") == 0 and gate.check(PASSWORD, "198.51.100.1")
    text = caplog.text
    assert "wrong password from 198.51.100.1 (5 in the last 10 min); locked out" in text
    assert "refused, locked out" in text
    assert "guess" not in text and PASSWORD not in text                # never the password, right or wrong


def test_failures_older_than_the_window_do_not_count(gate):
    for _ in range(2):
        for i in range(4):
            with pytest.raises(LoginRefused, match="^Wrong password.$"):
                gate.check("nope", "198.51.100.3")
        gate.clock_.t += 601                                          # the first four fall out of the window
    assert gate.check(PASSWORD, "198.51.100.3")


def test_a_success_resets_the_count(gate):
    for _ in range(3):
        for i in range(4):
            with pytest.raises(LoginRefused, match="^Wrong password.$"):
                gate.check("nope", "198.51.100.4")
        assert gate.check(PASSWORD, "198.51.100.4")


def test_the_comparison_is_constant_time_and_takes_any_text(gate, monkeypatch):
    calls = []
    real = lockout.hmac.compare_digest
    monkeypatch.setattr(lockout.hmac, "compare_digest", lambda a, b: calls.append((a, b)) or real(a, b))
    assert gate.check(PASSWORD, "c")                                  # non-ASCII: str compare_digest would raise
    for given in ("", None, "ünïcode", "x" * 10_000):
        with pytest.raises(LoginRefused):
            gate.check(given, "c")
    assert len(calls) == 5 and all(isinstance(a, bytes) and isinstance(b, bytes) for a, b in calls)


def test_bad_settings_are_refused_by_name():
    with pytest.raises(ValueError, match="needs a password"):
        PasswordGate("")
    with pytest.raises(ValueError, match="max_failures=0 is not accepted"):
        LockoutOptions(max_failures=0)
    with pytest.raises(ValueError, match="lockout_s=-1 is not accepted"):
        LockoutOptions(lockout_s=-1)
    assert client_of(SimpleNamespace(client=SimpleNamespace(host="203.0.113.9"))) == "203.0.113.9"
    assert client_of(None) == "unknown"


def test_the_researcher_view_refuses_a_locked_out_client(tmp_path):
    """The view's unlock handler, as Gradio calls it: the lockout message reaches the page as a gr.Error."""
    gr = pytest.importorskip("gradio")
    from streaming.study.researcher import build_researcher_view
    from streaming.study.store import StudyStore
    view = build_researcher_view(StudyStore(f"sqlite:///{tmp_path}/s.db"), PASSWORD,
                                 lockout=LockoutOptions(max_failures=2, failure_delay_s=0))
    unlock = next(fn.fn for fn in view.fns.values() if getattr(fn.fn, "__name__", "") == "unlock")
    request = SimpleNamespace(cookies={"agf_owner": "browser-r"}, client=SimpleNamespace(host="192.0.2.5"))
    with pytest.raises(gr.Error, match="Wrong password.'?$"):         # str(gr.Error) is the quoted message
        unlock("wrong", request)
    with pytest.raises(gr.Error, match="try again in 15 minutes"):
        unlock("wrong again", request)
    with pytest.raises(gr.Error, match="Too many wrong passwords"):
        unlock(PASSWORD, request)
    other = SimpleNamespace(cookies={"agf_owner": "browser-s"}, client=SimpleNamespace(host="192.0.2.6"))
    assert unlock(PASSWORD, other)[0] == "browser-s"                   # unlocked: bound to that browser


def test_failures_from_many_addresses_lock_the_view(gate):
    """Issue 22.2: a new address per guess used to get unlimited guesses; the account's count stops that."""
    for i in range(9):
        with pytest.raises(LoginRefused, match="^Wrong password.$"):
            gate.check(f"guess-{i}", f"203.0.113.{i}")
    with pytest.raises(LoginRefused, match="for the researcher view from all addresses: try again in 15 minutes"):
        gate.check("guess-9", "203.0.113.9")                         # the tenth within 10 minutes
    with pytest.raises(LoginRefused, match="for the researcher view"):
        gate.check(PASSWORD, "198.51.100.77")                        # every address, the right password too
    gate.clock_.t += 901
    assert gate.check(PASSWORD, "198.51.100.77")
    with pytest.raises(ValueError, match="max_account_failures=0 is not accepted"):
        LockoutOptions(max_account_failures=0)


async def _client_seen(app, client: tuple[str, int], forwarded: str) -> str:
    seen = {}

    async def inner(scope, receive, send):
        seen["client"] = scope["client"][0]
    config = app(inner)
    await config.loaded_app({"type": "http", "client": client, "headers": [(b"x-forwarded-for", forwarded.encode())],
                             "scheme": "http"}, None, None)
    return seen["client"]


def test_x_forwarded_for_is_believed_only_from_the_proxies_named(monkeypatch):
    """Issue 22.2: uvicorn as Gradio's launch configures it believed X-Forwarded-For from any local client, so a
    locked-out client (or anyone behind --share, all 127.0.0.1) could name a new address per guess."""
    import asyncio
    uvicorn = pytest.importorskip("uvicorn")

    def as_gradio_launches(inner):      # gradio/http_server.py passes no proxy setting of its own
        config = uvicorn.Config(app=inner, port=7860, host="127.0.0.1", log_level="warning")
        config.load()
        return config

    local, proxy = ("127.0.0.1", 50000), ("10.0.0.5", 50000)
    monkeypatch.delenv("FORWARDED_ALLOW_IPS", raising=False)
    assert asyncio.run(_client_seen(as_gradio_launches, local, "203.0.113.77")) == "203.0.113.77"  # the hole
    assert lockout.trust_proxies("") == ""                                          # the default: none
    assert asyncio.run(_client_seen(as_gradio_launches, local, "203.0.113.77")) == "127.0.0.1"
    assert lockout.trust_proxies(" 10.0.0.0/24 ,") == "10.0.0.0/24"                 # a proxy the researcher names
    assert asyncio.run(_client_seen(as_gradio_launches, proxy, "203.0.113.77")) == "203.0.113.77"
    assert asyncio.run(_client_seen(as_gradio_launches, local, "203.0.113.77")) == "127.0.0.1"
    with pytest.raises(ValueError, match="entry 'proxy.example' is not accepted: use IP addresses or networks"):
        lockout.trusted_proxies("10.0.0.1,proxy.example")


def test_the_trusted_proxies_flag_is_checked(capsys, monkeypatch):
    demo = pytest.importorskip("demo")
    monkeypatch.setenv("FORWARDED_ALLOW_IPS", "unchanged")
    with pytest.raises(SystemExit):
        demo.main(["--trusted-proxies", "localhost"])
    assert "--trusted-proxies entry 'localhost' is not accepted" in capsys.readouterr().err
