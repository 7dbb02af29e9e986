"""Spark Structured Streaming job of examples/streaming.yaml: count events by kind.

    spark-submit jobs/spark/count_events.py EVENTS_DIR COUNTS_DIR

Reads the CSV files landing in EVENTS_DIR as a stream (one file per micro-batch, to show the
batches), and writes each micro-batch's counts by kind to COUNTS_DIR/batch-<id>.csv. Maestro gives
the job its mode and checkpoint in the environment:

* ``MAESTRO_STREAM_MODE=bounded``: process what is there now and exit (availableNow);
  ``continuous``: keep going every few seconds until Maestro stops the job;
* ``MAESTRO_CHECKPOINT``: the checkpoint, so that a new run (or a retry) starts after the last
  committed batch and every file is processed exactly once.

It reports ``events`` and ``batches`` (of this run) to ``$MAESTRO_OUTPUT``.
"""

from __future__ import annotations

import os
import sys

from pyspark.sql import DataFrame, SparkSession

events_dir, counts_dir = sys.argv[1], sys.argv[2]
spark = SparkSession.builder.getOrCreate()
totals = {"events": 0, "batches": 0}


def report() -> None:
    with open(os.environ["MAESTRO_OUTPUT"], "a") as out:
        out.write(f"events={totals['events']}\nbatches={totals['batches']}\n")


def count_batch(batch: DataFrame, batch_id: int) -> None:
    """One micro-batch: its counts go to a file of its own, rewritten if Spark replays it."""
    counts = {row["kind"]: row["count"] for row in batch.groupBy("kind").count().collect()}
    os.makedirs(counts_dir, exist_ok=True)
    with open(f"{counts_dir}/batch-{batch_id:05d}.csv", "w") as out:
        out.write("kind,count\n" + "".join(f"{k},{n}\n" for k, n in sorted(counts.items())))
    totals["events"] += sum(counts.values())
    totals["batches"] += 1
    print(f"batch {batch_id}: {counts}")
    report()


report()  # zero until a batch runs: a run with nothing new still reports
stream = (
    spark.readStream.schema("event_id LONG, user_id INT, kind STRING")
    .option("header", "true")
    .option("maxFilesPerTrigger", 1)
    .csv(events_dir)
)
writer = stream.writeStream.foreachBatch(count_batch).option(
    "checkpointLocation", os.environ["MAESTRO_CHECKPOINT"]
)
if os.environ.get("MAESTRO_STREAM_MODE", "bounded") == "bounded":
    writer = writer.trigger(availableNow=True)
else:
    writer = writer.trigger(processingTime="5 seconds")
writer.start().awaitTermination()
spark.stop()
