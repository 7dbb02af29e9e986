"""Back-off of clients presenting bad tokens: after 5 within a minute, 429 with Retry-After —
even for a right token — doubling per repeat up to a cap; a success resets; other addresses
go on; the memory it keeps is bounded. The clock is injected (no sleeping)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from api.throttle import Throttle
from tests.api.conftest import API, Tokens, problem_of


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(authed: Tokens) -> Iterator[FakeClock]:
    fake = FakeClock()
    authed.client.app.state.throttle = Throttle(clock=fake)  # type: ignore[attr-defined]
    yield fake


def _get(client: TestClient, token: str) -> int:
    response = client.get(f"{API}/workflows", headers={"Authorization": f"Bearer {token}"})
    return response.status_code


def test_five_bad_tokens_back_the_client_off(authed: Tokens, clock: FakeClock) -> None:
    client, good = authed.client, authed.tokens["read"]
    assert [_get(client, f"mae_guess{i}") for i in range(5)] == [401] * 5
    refused = client.get(f"{API}/workflows", headers={"Authorization": f"Bearer {good}"})
    body = problem_of(refused, 429)  # a right token too: otherwise guessing goes on
    assert refused.headers["Retry-After"] == "30" and "try again in 30 s" in body["detail"]
    clock.now += 29
    assert _get(client, good) == 429
    clock.now += 1
    assert _get(client, good) == 200  # the back-off is over, and the success resets it
    assert [_get(client, "mae_guess") for _ in range(5)] == [401] * 5
    assert _get(client, good) == 429


def test_the_back_off_doubles_up_to_a_cap(authed: Tokens, clock: FakeClock) -> None:
    client = authed.client
    waits = []
    for _ in range(6):
        assert [_get(client, "mae_guess") for _ in range(5)] == [401] * 5
        refused = client.get(f"{API}/workflows", headers={"Authorization": "Bearer mae_guess"})
        waits.append(int(refused.headers["Retry-After"]))
        clock.now += waits[-1]
    assert waits == [30, 60, 120, 240, 300, 300]


def test_failures_spread_over_more_than_a_minute_do_not_count(
    authed: Tokens, clock: FakeClock
) -> None:
    for _ in range(12):
        assert _get(authed.client, "mae_slow") == 401
        clock.now += 15


def test_other_clients_are_not_affected(authed: Tokens, clock: FakeClock) -> None:
    app = authed.client.app
    with TestClient(app, base_url="http://test", client=("203.0.113.7", 4000)) as attacker:
        assert [_get(attacker, "mae_guess") for _ in range(6)] == [401] * 5 + [429]
    assert _get(authed.client, authed.tokens["read"]) == 200


def test_a_missing_token_is_not_a_failure(authed: Tokens, clock: FakeClock) -> None:
    for _ in range(10):
        assert authed.client.get(f"{API}/workflows").status_code == 401
    assert _get(authed.client, authed.tokens["read"]) == 200


def test_the_remembered_clients_are_bounded() -> None:
    clock = FakeClock()
    throttle = Throttle(max_clients=100, clock=clock)
    for i in range(10_000):
        throttle.failed(f"10.0.{i // 256}.{i % 256}")
    assert len(throttle) == 100
    for _ in range(5):
        throttle.failed("192.0.2.1")
    assert throttle.retry_after("192.0.2.1") == 30
    throttle.succeeded("192.0.2.1")
    assert throttle.retry_after("192.0.2.1") is None


def test_a_quiet_client_starts_over() -> None:
    clock = FakeClock()
    throttle = Throttle(clock=clock)
    for _ in range(5):
        throttle.failed("192.0.2.1")
    clock.now += 30
    for _ in range(5):
        throttle.failed("192.0.2.1")
    assert throttle.retry_after("192.0.2.1") == 60  # tripped twice in a row: doubled
    clock.now += 60 + 60 + 300 + 1  # quiet for longer than window + cap
    for _ in range(5):
        throttle.failed("192.0.2.1")
    assert throttle.retry_after("192.0.2.1") == 30
