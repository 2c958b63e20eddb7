"""The login backoff: wrong guesses slow down the client that made them, atomically, and never
lock out the right password from another device or a valid API token (flask_ui/ratelimit.py,
docs/admin.md). The rules on a fake clock first, then through the real app and daemon."""

from __future__ import annotations

import secrets
import threading
from collections import Counter

import pytest

from flask_ui.ratelimit import Backoff
from tests.admin_fixtures import PASSWORD, TOKEN, csrf_of
from tests.live import ThreadedDaemon


class Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def fail(backoff: Backoff, client: str) -> float:
    """A wrong guess: the attempt's charge (when it may try at all) is never refunded."""
    return backoff.attempt(client)


# --- the rules ------------------------------------------------------------------------------------


def test_the_first_failures_are_free_then_each_wait_doubles_up_to_the_cap():
    clock = Clock()
    backoff = Backoff(5, clock, first_wait=2, max_wait=60)
    for _ in range(5):
        assert fail(backoff, "a") == 0
    waits = []
    for _ in range(8):
        wait = backoff.attempt("a")
        assert wait > 0
        waits.append(wait)
        clock.now += wait
        assert fail(backoff, "a") == 0  # checked once the wait is over, and wrong again
    assert waits == [2, 4, 8, 16, 32, 60, 60, 60]


def test_a_right_guess_forgets_the_client_and_an_hour_of_quiet_does_too():
    clock = Clock()
    backoff = Backoff(2, clock, forget=3600)
    for _ in range(2):
        fail(backoff, "a")
        fail(backoff, "b")
    assert backoff.retry_after("a") > 0 and backoff.retry_after("b") > 0
    clock.now += 2
    assert backoff.attempt("a") == 0
    backoff.succeeded("a")
    assert backoff.retry_after("a") == 0
    for _ in range(2):
        fail(backoff, "a")
    assert backoff.retry_after("a") > 0  # free failures again from zero, no more
    clock.now += 3600
    assert backoff.retry_after("b") == 0


def test_others_failures_never_delay_a_client_with_a_clean_record():
    clock = Clock()
    backoff = Backoff(3, clock, global_limit=10)
    for n in range(10):  # an attacker with ten addresses reaches the account-wide cap
        assert fail(backoff, f"10.0.0.{n}") == 0
    assert backoff.retry_after("10.0.0.1") > 1000  # a client that has failed waits for the hour
    assert backoff.attempt("10.0.0.99") == 0  # a fresh address still gets its one guess
    assert backoff.retry_after("10.0.0.99") > 1000
    assert backoff.attempt("the admin's phone") == 0  # and the admin's right password is checked
    backoff.succeeded("the admin's phone")
    assert backoff.retry_after("the admin's phone") == 0


def test_the_table_of_clients_is_bounded():
    clock = Clock()
    backoff = Backoff(3, clock, global_limit=50, max_clients=100)
    for n in range(1000):
        backoff.attempt(f"spoofed-{n}")
    assert len(backoff._clients) == 100
    assert backoff.retry_after("spoofed-999") > 0  # unknown, past the cap: counted as failing
    assert len(backoff._recent) == 100  # only the remembered ones were charged


def test_a_fast_check_runs_under_the_lock_and_a_right_one_is_never_charged():
    clock = Clock()
    backoff = Backoff(2, clock)
    assert all(backoff.verify("a", lambda: True) == (True, 0.0) for _ in range(100))
    assert backoff.verify("a", lambda: False) == (False, 0.0)
    assert backoff.verify("a", lambda: False) == (False, 0.0)
    ok, wait = backoff.verify("a", lambda: True)
    assert not ok and wait > 0  # its own guessing: it waits like anyone


def test_an_unguessable_secret_passes_whatever_its_address_has_guessed():
    clock = Clock()
    backoff = Backoff(2, clock)
    for _ in range(50):
        backoff.verify("proxy", lambda: False, unguessable=True)
    ok, wait = backoff.verify("proxy", lambda: False, unguessable=True)
    assert not ok and wait > 0  # wrong ones still wait
    assert backoff.verify("proxy", lambda: True, unguessable=True) == (True, 0.0)


def test_wrong_tokens_sent_while_waiting_are_refused_without_growing_the_record():
    """A flood of wrong tokens from an address already waiting costs the limiter nothing more."""
    clock = Clock()
    backoff = Backoff(2, clock)
    while backoff.verify("flood", lambda: False, unguessable=True)[1] == 0:
        pass
    charged, checked = len(backoff._recent), 0
    for _ in range(10_000):  # 10 s of wrong tokens, one a millisecond
        clock.now += 0.001
        ok, wait = backoff.verify("flood", lambda: False, unguessable=True)
        assert not ok
        checked += wait == 0
    # only the tries made after a wait was over were charged (the waits double: 2, 4, 8 s)
    assert checked <= 3
    assert len(backoff._recent) == charged + checked
    assert backoff.verify("flood", lambda: True, unguessable=True) == (True, 0.0)


# --- through the real app -------------------------------------------------------------------------


def login_from(client, address: str, password: str):
    env = {"REMOTE_ADDR": address}
    token = csrf_of(client.get("/login", environ_base=env).get_data(as_text=True))
    return client.post("/login", data={"password": password, "csrf_token": token}, environ_base=env)


def test_parallel_wrong_guesses_get_exactly_the_free_checks(live: ThreadedDaemon):
    live.app.config["LIMITER"].clock = Clock()
    guessers = 12
    clients = [live.app.test_client() for _ in range(guessers)]
    tokens = [csrf_of(c.get("/login").get_data(as_text=True)) for c in clients]
    start = threading.Barrier(guessers)
    statuses: Counter[int] = Counter()
    lock = threading.Lock()

    def guess(client, token) -> None:
        start.wait(10)
        status = client.post("/login", data={"password": "guess", "csrf_token": token}).status_code
        with lock:
            statuses[status] += 1

    threads = [threading.Thread(target=guess, args=pair) for pair in zip(clients, tokens)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert statuses == {401: 5, 429: guessers - 5}  # every one counted before any was checked


def test_others_failures_do_not_lock_out_the_right_password(live: ThreadedDaemon):
    live.app.config["LIMITER"].clock = Clock()
    client = live.app.test_client()
    for _ in range(8):
        assert login_from(client, "192.168.1.66", "guess").status_code in (401, 429)
    assert login_from(client, "192.168.1.66", PASSWORD).status_code == 429  # its own backoff
    admin = live.app.test_client()
    assert login_from(admin, "192.168.1.20", PASSWORD).status_code == 302
    assert admin.get("/run", environ_base={"REMOTE_ADDR": "192.168.1.20"}).status_code == 200


def test_failed_logins_never_slow_a_valid_api_token(live: ThreadedDaemon):
    live.app.config["LIMITER"].clock = Clock()
    client = live.app.test_client()
    for _ in range(8):
        login_from(client, "127.0.0.1", "guess")
    assert login_from(client, "127.0.0.1", PASSWORD).status_code == 429
    auth = {"Authorization": f"Bearer {TOKEN}"}
    answers: list[int] = []

    def call() -> None:
        answers.append(client.get("/api/runs", headers=auth).status_code)

    threads = [threading.Thread(target=call) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert answers == [200] * 16  # from the same address, in parallel


def test_bad_tokens_from_one_client_do_not_touch_another(live: ThreadedDaemon):
    live.app.config["TOKEN_LIMITER"].clock = Clock()
    client = live.app.test_client()
    bad = {"Authorization": "Bearer guess"}
    for _ in range(5):
        assert client.get("/api/runs", headers=bad, environ_base={"REMOTE_ADDR": "10.1.1.1"}).status_code == 401
    good = {"Authorization": f"Bearer {TOKEN}"}
    assert client.get("/api/runs", headers=good, environ_base={"REMOTE_ADDR": "10.1.1.1"}).status_code == 429
    assert client.get("/api/runs", headers=good, environ_base={"REMOTE_ADDR": "10.1.1.2"}).status_code == 200


@pytest.mark.parametrize("address, key", [("2001:db8::1", "2001:db8::/64"), ("::ffff:10.0.0.7", "10.0.0.7")])
def test_ipv6_clients_are_charged_by_their_64(live: ThreadedDaemon, address: str, key: str):
    client = live.app.test_client()
    login_from(client, address, "guess")
    assert key in live.app.config["LIMITER"]._clients


def test_a_long_token_is_never_refused_for_others_wrong_tokens_from_its_address(make_config, admin_env):
    # behind one proxy (or NAT) every client has the same address: someone guessing tokens there
    # must not lock out the scripts, and a 43-character token cannot be guessed anyway
    token = secrets.token_urlsafe(32)
    live = ThreadedDaemon(make_config(**{**admin_env, "PANIC_EDGE_ADMIN_API_TOKEN": token})).start()
    try:
        live.app.config["TOKEN_LIMITER"].clock = Clock()
        client = live.app.test_client()
        bad = {"Authorization": "Bearer guess"}
        answers = [client.get("/api/runs", headers=bad).status_code for _ in range(100)]
        assert answers[:5] == [401] * 5 and answers[-1] == 429  # the guesser waits
        assert client.get("/api/runs", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    finally:
        live.stop()
