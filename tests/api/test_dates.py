"""Instants from requests outside what ``datetime`` can convert to UTC (and compute around)
answer 422 naming the field, never 500: the run-history filters, a run's ``logical_date``, a
backfill's range. Values inside the range still work and come out in UTC."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.api.conftest import API, problem_of, workflow_yaml

#: offsets at either end of the calendar overflow once converted to UTC; the ends themselves
#: overflow the engine's arithmetic around them (time zones, DST margins, the next tick)
OUT_OF_RANGE = [
    "9999-12-31T23:59:59-14:00",
    "0001-01-01T00:00:00+14:00",
    "9999-12-31T23:59:59Z",
    "0001-01-01T00:00:00Z",
]
HOURLY = workflow_yaml().replace("steps:", "triggers:\n  - cron: '0 * * * *'\nsteps:")


@pytest.fixture
def hourly(client: TestClient) -> TestClient:
    response = client.post(
        API + "/workflows", content=HOURLY, headers={"Content-Type": "application/yaml"}
    )
    assert response.status_code == 201, response.text
    return client


def _names(field: str, response: Any) -> None:
    body = problem_of(response, 422)
    assert [e["loc"][-1] for e in body["errors"]] == [field], body
    assert "out of range" in body["errors"][0]["msg"], body


@pytest.mark.parametrize("value", OUT_OF_RANGE)
@pytest.mark.parametrize("field", ["since", "until"])
def test_a_history_filter_out_of_range_is_422(hourly: TestClient, field: str, value: str) -> None:
    _names(field, hourly.get(f"{API}/workflows/hello/runs", params={field: value}))


@pytest.mark.parametrize("value", OUT_OF_RANGE)
def test_a_logical_date_out_of_range_is_422(hourly: TestClient, value: str) -> None:
    response = hourly.post(f"{API}/workflows/hello/runs", json={"logical_date": value})
    _names("logical_date", response)


@pytest.mark.parametrize("value", OUT_OF_RANGE)
@pytest.mark.parametrize("field", ["start", "end"])
def test_a_backfill_bound_out_of_range_is_422(hourly: TestClient, field: str, value: str) -> None:
    body = {"start": "2026-01-01T00:00:00Z", "end": "2026-01-01T03:00:00Z", field: value}
    _names(field, hourly.post(f"{API}/workflows/hello/backfills", json=body))


def test_instants_inside_the_range_are_accepted_in_utc(hourly: TestClient) -> None:
    response = hourly.post(
        f"{API}/workflows/hello/runs", json={"logical_date": "9999-12-30T23:00:00+14:00"}
    )
    assert response.status_code == 201, response.text
    assert response.json()["logical_date"] == "9999-12-30T09:00:00Z"
    history = hourly.get(
        f"{API}/workflows/hello/runs",
        params={"since": "0001-01-02T00:00:00", "until": "9999-12-30T23:59:59-00:00"},
    )
    assert history.status_code == 200 and len(history.json()["items"]) == 1, history.text
    near_the_end = {"start": "9999-12-30T20:00:00Z", "end": "9999-12-30T23:59:59Z"}
    backfill = hourly.post(f"{API}/workflows/hello/backfills", json=near_the_end)
    assert backfill.status_code == 201, backfill.text


def test_a_yearly_backfill_at_the_end_of_the_calendar_finds_no_tick(hourly: TestClient) -> None:
    """The next tick would be in year 10000: the ticks end there (it answered 500)."""
    yearly = HOURLY.replace("0 * * * *", "0 0 1 1 *").replace("id: hello", "id: yearly")
    submitted = hourly.post(
        API + "/workflows", content=yearly, headers={"Content-Type": "application/yaml"}
    )
    assert submitted.status_code == 201, submitted.text
    window = {"start": "9999-12-29T00:00:00Z", "end": "9999-12-30T00:00:00Z"}
    problem_of(hourly.post(f"{API}/workflows/yearly/backfills", json=window), 422)
