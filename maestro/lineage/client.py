"""The OpenLineage client side of lineage: records become the client's ``RunEvent`` and go to
its transport, configured the OpenLineage way (``openlineage.yml`` where ``OPENLINEAGE_CONFIG``,
the working folder or ``~/.openlineage`` has one, ``OPENLINEAGE__TRANSPORT__*`` variables, or
``OPENLINEAGE_URL`` / ``OPENLINEAGE_API_KEY`` / ``OPENLINEAGE_ENDPOINT`` for HTTP).

Loaded by name (``maestro.lineage.sink()``) only when lineage is on. Jobs are in the namespace
``OPENLINEAGE_NAMESPACE`` (default ``maestro``). A sql step's tables are read here
(``maestro.lineage.sql``), so that a process without lineage never imports sqlglot.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from datetime import UTC
from typing import Any

from openlineage.client import OpenLineageClient
from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
from openlineage.client.facet_v2 import (
    error_message_run,
    job_type_job,
    parent_run,
    sql_job,
)

from maestro.lineage.records import PRODUCER, LineageRecord
from maestro.lineage.sql import tables

logger = logging.getLogger(__name__)

DEFAULT_NAMESPACE = "maestro"
_STATES = {
    "START": RunState.START,
    "COMPLETE": RunState.COMPLETE,
    "FAIL": RunState.FAIL,
    "ABORT": RunState.ABORT,
}


class OpenLineageSink:
    """Sends run events through an OpenLineage client (made from the environment)."""

    def __init__(self, client: OpenLineageClient, namespace: str = DEFAULT_NAMESPACE) -> None:
        self.client = client
        self.namespace = namespace

    def emit(self, records: Sequence[LineageRecord]) -> None:
        for record in records:
            try:
                self.client.emit(event(record, self.namespace))
            except Exception:  # lineage is never worth a failed step
                logger.exception("could not emit the OpenLineage event of %s", record.job)

    def flush(self, timeout_seconds: float = 5.0) -> None:
        self.client.close(timeout_seconds)


def from_environment() -> OpenLineageSink:
    namespace = os.environ.get("OPENLINEAGE_NAMESPACE", "").strip() or DEFAULT_NAMESPACE
    return OpenLineageSink(OpenLineageClient(), namespace)


def event(record: LineageRecord, namespace: str) -> RunEvent:
    """The client's run event for ``record``."""
    facets: dict[str, Any] = {}
    if record.parent is not None:
        facets["parent"] = parent_run.ParentRunFacet(
            run=parent_run.Run(runId=str(record.parent.run_id)),
            job=parent_run.Job(namespace=namespace, name=record.parent.job),
            producer=PRODUCER,
        )
    if record.error:
        facets["errorMessage"] = error_message_run.ErrorMessageRunFacet(
            message=record.error, programmingLanguage="python", producer=PRODUCER
        )
    job_facets: dict[str, Any] = {
        "jobType": job_type_job.JobTypeJobFacet(
            processingType="BATCH",
            integration="MAESTRO",
            jobType="DAG" if record.kind == "run" else "TASK",
            producer=PRODUCER,
        )
    }
    inputs, outputs = list(record.inputs), list(record.outputs)
    if record.sql is not None:
        inputs, outputs = tables(record.sql)
        job_facets["sql"] = sql_job.SQLJobFacet(query=record.sql.sql, producer=PRODUCER)
    return RunEvent(
        eventType=_STATES[record.event_type],
        eventTime=record.event_time.astimezone(UTC).isoformat(),
        run=Run(runId=str(record.run_id), facets=facets),
        job=Job(namespace=namespace, name=record.job, facets=job_facets),
        inputs=[InputDataset(namespace=d.namespace, name=d.name) for d in inputs],
        outputs=[OutputDataset(namespace=d.namespace, name=d.name) for d in outputs],
        producer=PRODUCER,
    )
