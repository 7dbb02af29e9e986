"""Fencing: before a step runs again after its worker died (the previous attempt LOST), what
that attempt started outside the worker's process tree is ended, so that two never write at
once. The worker's own processes die with it (``warden.py``); these do not:

* a **Trino/Presto query** keeps running on the coordinator: it is killed by id
  (``DELETE /v1/query/{id}``, Trino's REST API, with the connection's user and password);
* a **Spark application in cluster mode** keeps running on the cluster: on YARN it is killed
  with ``yarn application -kill <application id>``; on Kubernetes with
  ``spark-submit --master <master> --kill <submission id>``, on a standalone master with its
  driver client's ``kill`` (the attempt records the driver's
  submission id there, as soon as ``spark-submit`` prints it).

Best effort and logged in the new attempt's log: a query or application that already ended
answers "not found", which is fine. A PostgreSQL statement needs no fence: the server ends a
backend whose client connection closed.
"""

from __future__ import annotations

from typing import Any

import httpx

from maestro.connections import ConnectionLookupError, parse, resolve, scrub
from workers.runtimes.base import RuntimeContext
from workers.runtimes.submit import APP_ID, kill_command, run_kill, write_log

#: seconds a fence may take
FENCE_TIMEOUT = 10.0


def fence_query(ctx: RuntimeContext, query_id: str) -> None:
    """Kill the Trino/Presto query ``query_id`` on the step's connection."""
    name = ctx.settings.get("connection")
    if not isinstance(name, str):
        return
    try:
        conn = resolve(name, connections_file=ctx.connections_file, project_dir=ctx.project_dir)
    except ConnectionLookupError as exc:
        write_log(ctx.log, f"[maestro] cannot fence query {query_id}: {exc}\n")
        return
    url = parse(conn.url)
    if url.get_backend_name() not in ("trino", "presto") or query_id.startswith("pid:"):
        return
    scheme = str(url.query.get("http_scheme") or ("https" if url.port == 443 else "http"))
    base = f"{scheme}://{url.host}:{url.port or 8080}"
    headers = {"X-Trino-User": url.username or "maestro", "X-Presto-User": url.username or ""}
    auth: Any = (url.username or "", url.password) if url.password else None
    write_log(ctx.log, f"[maestro] the previous attempt was lost: killing its query {query_id}\n")
    try:
        answer = httpx.delete(
            f"{base}/v1/query/{query_id}", headers=headers, auth=auth, timeout=FENCE_TIMEOUT
        )
    except httpx.HTTPError as exc:
        message = scrub(str(exc), conn.secrets)
        write_log(ctx.log, f"[maestro] could not kill query {query_id}: {message}\n")
        return
    write_log(ctx.log, f"[maestro] kill query {query_id}: HTTP {answer.status_code}\n")


def fence_application(
    ctx: RuntimeContext, fence_id: str, master: str, env: dict[str, str], spark_submit: str
) -> None:
    """End the cluster-mode Spark application of a lost attempt before running again: by its
    application id on YARN, by its driver's submission id on a standalone or Kubernetes master
    (what the attempt recorded there, ``submit._fence_id``)."""
    is_app_id = APP_ID.fullmatch(fence_id) is not None
    command = kill_command(
        spark_submit,
        master,
        "cluster",
        fence_id if is_app_id else None,
        None if is_app_id else fence_id,
    )
    if command is None:
        write_log(
            ctx.log,
            f"[maestro] the previous attempt ({fence_id}) was lost; its application is not "
            f"killed from here (master {master}, no submission id recorded)\n",
        )
        return
    write_log(ctx.log, f"[maestro] the previous attempt was lost: killing {fence_id}\n")
    run_kill(command, env, ctx.log)
