"""The web view's authentication is the API's: a token from the login form opens a server-side
session whose id (not the token) goes in an HttpOnly, SameSite=Strict cookie; read pages for
any live session of a live token; buttons and actions only with write scope for the
workflow's owner; logging out, revoking the token, idling and age end the session."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from fastapi.testclient import TestClient

from api.throttle import Throttle
from api.web.session import SESSION_COOKIE
from maestro import reads
from maestro.store.tokens import revoke_token
from maestro.store.web_sessions import IDLE, LIFETIME
from tests.engine.harness import Harness
from tests.web.conftest import Authed, flaky, post_form

API = "/api/v1/workflows"


def test_pages_send_a_stranger_to_the_login_form(authed: Authed) -> None:
    response = authed.client.get("/workflows/sales?before=5", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=%2Fworkflows%2Fsales%3Fbefore%3D5"
    page = authed.client.get(response.headers["location"])
    assert page.status_code == 200 and 'name="token"' in page.text
    assert 'name="next" value="/workflows/sales?before=5"' in page.text
    poll = authed.client.get("/", headers={"X-Fragment": "1"}, follow_redirects=False)
    assert poll.status_code == 401  # the refresh poll reloads the page instead
    assert authed.client.get("/runs/1/steps/a/attempts/1/log").status_code == 401
    assert authed.client.get("/api/v1/workflows").status_code == 401  # the API is unchanged


def test_logging_in_sets_a_strict_http_only_cookie(authed: Authed) -> None:
    response = post_form(authed.client, "/login", {"token": authed.tokens["reader"], "next": "/"})
    assert response.status_code == 303 and response.headers["location"] == "/"
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"{SESSION_COOKIE}=") and "HttpOnly" in cookie
    assert "SameSite=strict" in cookie or "SameSite=Strict" in cookie
    session_id = authed.client.cookies[SESSION_COOKIE]
    assert authed.tokens["reader"] not in cookie and session_id != authed.tokens["reader"]
    assert session_id.startswith("mws_")
    as_bearer = authed.client.get(API, headers={"Authorization": f"Bearer {session_id}"})
    assert as_bearer.status_code == 401  # a stolen cookie is no API token
    page = authed.client.get("/")
    assert page.status_code == 200 and "reader · read" in page.text


def test_a_bad_token_is_refused_and_the_next_page_stays_on_this_site(authed: Authed) -> None:
    bad = post_form(authed.client, "/login", {"token": "mae_nope", "next": "/"})
    assert bad.status_code == 401 and "unknown or revoked" in bad.text
    for target in ("//evil.example/x", "https://evil.example", "/\\evil.example"):
        ok = post_form(authed.client, "/login", {"token": authed.tokens["reader"], "next": target})
        assert ok.headers["location"] == "/"
    no_csrf = post_form(authed.client, "/login", {"token": authed.tokens["reader"]}, csrf=False)
    assert no_csrf.status_code == 403


def test_a_reader_sees_everything_and_can_do_nothing(
    authed: Authed, harness: Harness, tmp_path: Path
) -> None:
    run_id = harness.start(flaky(tmp_path))
    harness.drain(run_id)
    authed.log_in("reader")
    workflow = authed.client.get("/workflows/sales").text
    run = authed.client.get(f"/runs/{run_id}").text
    assert 'data-status="FAILED"' in workflow and 'data-status="FAILED"' in run
    assert "Start a run" not in workflow and "Pause triggers" not in workflow
    assert "Restart from failed" not in run
    refused = post_form(authed.client, f"/runs/{run_id}/restart")
    assert refused.status_code == 403 and "write scope" in refused.text


def test_a_writer_acts_only_for_their_owners(
    authed: Authed, harness: Harness, tmp_path: Path
) -> None:
    run_id = harness.start(flaky(tmp_path, owner="team-a"))
    harness.drain(run_id)
    authed.log_in("writer-b")
    assert "Restart from failed" not in authed.client.get(f"/runs/{run_id}").text
    assert post_form(authed.client, f"/runs/{run_id}/restart").status_code == 403
    assert post_form(authed.client, "/workflows/sales/start").status_code == 403
    authed.log_in("writer-a")
    assert "Restart from failed" in authed.client.get(f"/runs/{run_id}").text
    response = post_form(authed.client, f"/runs/{run_id}/restart")
    assert response.status_code == 303
    with harness.db.read() as conn:
        events = reads.list_events(conn, run_id, limit=500).items
    assert any(e.action == "restart" and e.actor == "writer-a" for e in events)


def test_logging_out_and_revoked_tokens_end_the_session(authed: Authed, harness: Harness) -> None:
    authed.log_in("reader")
    assert authed.client.get("/", follow_redirects=False).status_code == 200
    out = post_form(authed.client, "/logout")
    assert out.status_code == 303 and out.headers["location"] == "/login"
    assert authed.client.get("/", follow_redirects=False).status_code == 303
    authed.log_in("reader")
    with harness.db.tx() as conn:
        revoke_token(conn, "reader", harness.clock.now())
    assert authed.client.get("/", follow_redirects=False).status_code == 303


def test_without_authentication_there_is_no_login(client: TestClient) -> None:
    assert client.get("/login", follow_redirects=False).headers["location"] == "/"
    assert "Log out" not in client.get("/").text


def test_repeated_bad_logins_back_the_address_off(authed: Authed) -> None:
    now = [1000.0]
    authed.client.app.state.throttle = Throttle(clock=lambda: now[0])  # type: ignore[attr-defined]
    for _ in range(5):
        assert post_form(authed.client, "/login", {"token": "mae_guess"}).status_code == 401
    refused = authed.log_in("reader")  # a right token too, while backed off
    assert refused.status_code == 429 and refused.headers["Retry-After"] == "30"
    assert "try again in 30 s" in refused.text
    assert SESSION_COOKIE not in refused.headers.get("set-cookie", "")
    api = authed.client.get("/api/v1/workflows", headers={"Authorization": "Bearer mae_x"})
    assert api.status_code == 429  # one count per address, the API's and the form's
    with TestClient(authed.client.app, base_url="http://test", client=("198.51.100.2", 1)) as c:
        other = Authed(c, authed.tokens)
        assert other.log_in("reader").status_code == 303  # another address is not affected
    now[0] += 30
    assert authed.log_in("reader").status_code == 303


def test_a_logged_out_session_cannot_be_replayed(authed: Authed) -> None:
    authed.log_in("reader")
    stolen = authed.client.cookies[SESSION_COOKIE]
    assert post_form(authed.client, "/logout").status_code == 303
    with TestClient(authed.client.app, base_url="http://test") as thief:
        thief.cookies.set(SESSION_COOKIE, stolen)
        replayed = thief.get("/", follow_redirects=False)
        assert replayed.status_code == 303 and replayed.headers["location"].startswith("/login")


def test_a_revoked_tokens_sessions_end(authed: Authed, harness: Harness) -> None:
    authed.log_in("writer-a")
    authed.log_in("reader")
    kept = authed.client.cookies[SESSION_COOKIE]
    with harness.db.tx() as conn:
        revoke_token(conn, "reader", harness.clock.now())
    with TestClient(authed.client.app, base_url="http://test") as other:
        other.cookies.set(SESSION_COOKIE, kept)
        assert other.get("/", follow_redirects=False).status_code == 303


def test_sessions_end_when_idle_or_old(authed: Authed, harness: Harness) -> None:
    authed.log_in("reader")
    harness.clock.advance((IDLE - timedelta(minutes=1)).total_seconds())
    assert authed.client.get("/", follow_redirects=False).status_code == 200  # used: kept
    harness.clock.advance((IDLE - timedelta(minutes=1)).total_seconds())
    assert authed.client.get("/", follow_redirects=False).status_code == 200
    harness.clock.advance(IDLE.total_seconds())
    assert authed.client.get("/", follow_redirects=False).status_code == 303  # idle too long
    authed.log_in("reader")
    step = IDLE - timedelta(hours=1)
    used_for = timedelta(0)
    while used_for + step < LIFETIME:
        harness.clock.advance(step.total_seconds())
        used_for += step
        assert authed.client.get("/", follow_redirects=False).status_code == 200
    harness.clock.advance(step.total_seconds())
    assert authed.client.get("/", follow_redirects=False).status_code == 303  # too old
