"""Sending attempts to Celery on a real Redis: one message per attempt, several sent as one
batch, one Redis client kept per channel, and a send that cannot reach Redis loses only
messages (the scheduler re-sends them), never the caller's unit."""

from __future__ import annotations

import base64
import json
import logging
from pathlib import Path

import pytest
import redis
from kombu import Queue

from maestro.dispatch import Dispatch
from maestro.settings import load_settings
from tests.support.cluster import RedisServer
from workers import redis_transport
from workers.celery_app import TASK_NAME, CeleryDispatcher, create_celery_app


def _dispatcher(tmp_path: Path, broker_url: str) -> CeleryDispatcher:
    settings = load_settings(home=tmp_path, broker_url=broker_url)
    return CeleryDispatcher(create_celery_app(settings))


def _queued(server: RedisServer, queue: str) -> list[tuple[str, list[int]]]:
    """(task name, args) of each message waiting in ``queue``, oldest first."""
    client = redis.Redis.from_url(server.url)
    out = []
    for raw in reversed(client.lrange(queue, 0, -1)):  # LPUSH: the newest first
        message = json.loads(raw)
        args, _kwargs, _embed = json.loads(base64.b64decode(message["body"]))
        out.append((message["headers"]["task"], args))
    return out


def test_several_attempts_go_as_one_batch_each_its_own_message(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    dispatcher = _dispatcher(tmp_path, redis_server.url)
    dispatcher.send([Dispatch(1, "default"), Dispatch(2, "spark"), Dispatch(3, "default")])
    dispatcher.send([Dispatch(4, "default")])
    assert _queued(redis_server, "default") == [
        (TASK_NAME, [1]),
        (TASK_NAME, [3]),
        (TASK_NAME, [4]),
    ]
    assert _queued(redis_server, "spark") == [(TASK_NAME, [2])]
    assert dispatcher.depth("default") == 3


def test_a_redis_broker_keeps_one_client_per_channel(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    app = _dispatcher(tmp_path, redis_server.url).app
    with app.connection_for_write() as conn:
        channel = conn.default_channel
        assert isinstance(channel, redis_transport.Channel)
        with channel.conn_or_acquire() as first, channel.conn_or_acquire() as second:
            assert first is second
        channel._disconnect_pools()  # what kombu does after a connection error
        with channel.conn_or_acquire() as after:
            assert after is not first and after.ping()


def test_other_brokers_keep_kombus_transports(tmp_path: Path) -> None:
    app = _dispatcher(tmp_path, "memory://").app
    with app.connection_for_write() as conn:
        assert not isinstance(conn.default_channel, redis_transport.Channel)
    # TLS: kombu turns it on by the scheme's name, which a transport given by class hides
    tls = _dispatcher(tmp_path, "rediss://127.0.0.1:1/0").app
    assert tls.conf.broker_transport is None
    assert tls.connection_for_write().ssl


@pytest.mark.parametrize("count", [1, 3])
def test_a_send_without_redis_warns_and_returns(
    tmp_path: Path, redis_server: RedisServer, caplog: pytest.LogCaptureFixture, count: int
) -> None:
    dispatcher = _dispatcher(tmp_path, redis_server.url)
    redis_server.stop()
    with caplog.at_level(logging.WARNING, logger="workers.celery_app"):
        dispatcher.send([Dispatch(i, "default") for i in range(count)])
    assert "the scheduler will re-send" in caplog.text


def test_a_delivered_message_leaves_no_unacked_copy_in_redis(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    """No acknowledgement emulation: kombu would keep each delivered, unacknowledged message
    in an "unacked" hash (two Redis transactions a message); the QUEUED attempt row is the
    outbox, so a message a crashed worker held is re-sent by the scheduler instead."""
    dispatcher = _dispatcher(tmp_path, redis_server.url)
    dispatcher.send([Dispatch(7, "default")])
    got: list[object] = []
    with dispatcher.app.connection_for_read() as conn:
        queue = Queue("default", routing_key="default")
        with conn.Consumer(queue, callbacks=[lambda body, _message: got.append(body)]):
            conn.drain_events(timeout=5)  # delivered, not acknowledged
        client = redis.Redis.from_url(redis_server.url)
        assert got and got[0][0] == [7]  # type: ignore[index]
        assert client.keys("unacked*") == []
