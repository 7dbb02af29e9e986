"""The alert sender: takes due alerts from the outbox, renders their templates, delivers them,
and records the result — with backoff, and a dead letter at the end.

One runs beside each scheduler (``maestro scheduler``) and in the embedded process (``maestro
run``, ``maestro standalone``). It is woken by every commit that adds an alert (the scheduler's
wake-ups: in-process, and PostgreSQL NOTIFY across processes) and polls otherwise. Tries are
claimed with a lease (``maestro.store.alerts.claim``), so two senders never deliver one alert
at the same time, and one that dies mid-try leaves the alert to another after the lease.
Delivery happens outside any transaction: a slow receiver holds no lock.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from maestro import expressions
from maestro.alerts.channels import DeliveryError, deliver
from maestro.connections import resolve
from maestro.engine.context import expression_context
from maestro.engine.core import Engine
from maestro.errors import ExpressionError, NotFound
from maestro.states import AlertStatus
from maestro.store import alerts as alert_rows
from maestro.store.alerts import ClaimedAlert
from maestro.store.records import load_run

logger = logging.getLogger(__name__)

#: alerts one pass takes at a time
BATCH = 20


class AlertSender:
    def __init__(self, eng: Engine) -> None:
        self.eng = eng
        self._wake = threading.Event()
        eng.on_wake(self.wake)

    def wake(self) -> None:
        self._wake.set()

    # -- the loop -----------------------------------------------------------------------

    def run_forever(self, stop: threading.Event) -> None:
        """Send until ``stop`` is set; sleep until woken or the poll interval passes."""
        while not stop.is_set():
            self._wake.clear()
            try:
                busy = self.send_due() == BATCH
            except Exception:  # the database may be restarting: keep going
                logger.exception("alert sender pass failed")
                busy = False
            if not busy:
                self._wake.wait(self._delay())

    def start(self, stop: threading.Event) -> threading.Thread:
        thread = threading.Thread(
            target=self.run_forever, args=(stop,), name="alert-sender", daemon=True
        )
        thread.start()
        return thread

    def send_due(self, root: int | None = None) -> int:
        """Take the due alerts (only of run ``root`` and the runs under it, when given) and
        try each once; returns how many were taken."""
        now = self.eng.clock.now()
        lease = now + timedelta(seconds=self.eng.settings.alert_timeout * 3 + 30)
        with self.eng.db.tx() as conn:
            claimed = alert_rows.claim(conn, now, lease, BATCH, root)
        for alert in claimed:
            self._send(alert)
        return len(claimed)

    def flush(self, root: int, within: float) -> int:
        """Deliver what run ``root`` (and the runs under it) has due, trying for at most
        ``within`` seconds; returns how many of its alerts are still PENDING (a retry later)."""
        deadline = time.monotonic() + within
        while time.monotonic() < deadline and self.send_due(root):
            pass
        with self.eng.db.read() as conn:
            return alert_rows.count(conn, root, AlertStatus.PENDING)

    # -- one alert ----------------------------------------------------------------------

    def _send(self, alert: ClaimedAlert) -> None:
        try:
            settings = self._rendered(alert)
            deliver(
                alert.channel,
                settings,
                alert.payload,
                timeout=self.eng.settings.alert_timeout,
                connections=self._connection,
                project_dir=self.eng.settings.project_dir,
            )
        except DeliveryError as exc:
            self._failed(alert, str(exc), permanent=exc.permanent)
        except ExpressionError as exc:
            self._failed(alert, f"a template of the alert cannot be rendered: {exc}", True)
        except NotFound:  # the run was deleted meanwhile (its alerts go with it)
            return
        except Exception as exc:  # a bug must not stop the sender: this try failed
            logger.exception("alert delivery raised", extra={"alert_id": alert.id})
            self._failed(alert, f"{alert.channel}: {type(exc).__name__}", permanent=False)
        else:
            with self.eng.db.tx() as conn:
                alert_rows.delivered(conn, alert.id, self.eng.clock.now())
            logger.info(
                "alert delivered",
                extra={"alert_id": alert.id, "event": alert.event, "channel": alert.channel},
            )

    def _failed(self, alert: ClaimedAlert, error: str, permanent: bool) -> None:
        now = self.eng.clock.now()
        retry_at = None if permanent else self._next_try(alert, now)
        with self.eng.db.tx() as conn:
            alert_rows.try_failed(conn, alert.id, error, now, retry_at)
        logger.warning(
            "alert not delivered: %s (%s)",
            error,
            "will retry" if retry_at else "FAILED",
            extra={"alert_id": alert.id, "event": alert.event, "channel": alert.channel},
        )

    def _next_try(self, alert: ClaimedAlert, now: datetime) -> datetime | None:
        """Exponential backoff (±10 %) from ``alert_retry_first``, at most
        ``alert_retry_max``; None once past the alert's ``retry_until`` (the dead letter)."""
        s = self.eng.settings
        delay = min(s.alert_retry_first * 2 ** max(alert.attempts - 1, 0), s.alert_retry_max)
        at = now + timedelta(seconds=delay * random.uniform(0.9, 1.1))
        if alert.retry_until is not None and at > alert.retry_until:
            return None
        return at

    def _rendered(self, alert: ClaimedAlert) -> Mapping[str, Any]:
        """The channel's settings with templates rendered in the run's scope plus ``alert``."""
        settings = alert.rule.get(alert.channel) or {}
        if not _has_template(settings):
            return settings
        with self.eng.db.read() as conn:
            run = load_run(conn, alert.run_id)
            context = {**expression_context(conn, run), "alert": alert.payload}
            rendered: Mapping[str, Any] = expressions.render(settings, context)
        return rendered

    def _connection(self, name: str) -> str:
        s = self.eng.settings
        return resolve(name, connections_file=s.connections_file, project_dir=s.project_dir).url

    def _delay(self) -> float:
        """Until the next try is due, at most the poll interval."""
        poll = self.eng.settings.poll_interval
        try:
            with self.eng.db.read() as conn:
                due = alert_rows.next_due(conn, AlertStatus.PENDING)
        except Exception:
            return poll
        if due is None:
            return poll
        return max(0.0, min(poll, (due - self.eng.clock.now()).total_seconds()))


def _has_template(value: Any) -> bool:
    if isinstance(value, str):
        return expressions.contains_template(value)
    if isinstance(value, Mapping):
        return any(_has_template(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_template(v) for v in value)
    return False
