"""The researcher password: constant-time comparison, a cooling-off period after repeated failures from one
client, logs without the password. The clock is injected; nothing sleeps."""
import logging
from types import SimpleNamespace

import pytest

import streaming.lockout as lockout
from streaming.lockout import LockoutOptions, LoginRefused, PasswordGate, client_of

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
    caplog.set_level(logging.WARNING, logger="streaming.lockout")
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
    from streaming.researcher import build_researcher_view
    from streaming.store import StudyStore
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
