"""kombu's Redis transport, keeping one Redis client per channel.

kombu's channel makes a new ``redis.Redis`` for each command it sends outside a consumer —
each message published among them — and a client's construction fills its table of ~170
response callbacks: half the Python a publish ran (1,500 function calls a message), and a
third of its time (0.4 ms on a 2-core machine, more when its caches are cold: a run start
sends one message after an idle spell). A client is only a view of the channel's connection
pool, safe to share between threads, so the channel keeps one per pool (a new pool after a
disconnect gets a new client). Everything else is kombu's.

``workers.celery_app.create_celery_app`` selects it for ``redis://`` broker URLs only. Other
schemes keep kombu's own transports: ``rediss://`` too, since kombu turns TLS on for that
scheme by its name (a transport given by class would connect without TLS), and
``sentinel://`` and other brokers are other transports.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from kombu.transport import redis as kombu_redis

#: the value of Celery's ``broker_transport`` that selects this transport
NAME = "workers.redis_transport:Transport"
SCHEMES = ("redis",)


class Channel(kombu_redis.Channel):
    _kept: Any = None

    @contextmanager
    def conn_or_acquire(self, client: Any = None) -> Iterator[Any]:
        if client:
            yield client
            return
        kept = self._kept
        if kept is None or kept.connection_pool is not self.pool:
            kept = self._kept = self._create_client()  # type: ignore[no-untyped-call]
        yield kept


class Transport(kombu_redis.Transport):
    Channel = Channel
