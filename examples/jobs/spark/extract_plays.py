"""Spark job of examples/daily_etl.yaml: extract one day of plays into Parquet.

A real pipeline would read a source system; this one generates a deterministic day of 1,000
plays (skewed towards the first titles, like real viewing) so the example runs anywhere:

    spark-submit jobs/spark/extract_plays.py --ds 2024-03-01 --out /tmp/plays/ds=2024-03-01

It writes ``rows`` and ``path`` to ``$MAESTRO_OUTPUT`` for the next steps.
"""

from __future__ import annotations

import argparse
import os

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

TITLES = ["Stranger Things", "The Crown", "Wednesday", "Squid Game", "Dark"]
COUNTRIES = ["US", "BR", "FR", "JP"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--ds", required=True, help="the day, YYYY-MM-DD")
    parser.add_argument("--out", required=True, help="folder of the day's Parquet files")
    parser.add_argument("--rows", type=int, default=1000)
    args = parser.parse_args()

    spark = SparkSession.builder.appName(f"extract_plays {args.ds}").getOrCreate()
    seed = int(args.ds.replace("-", "")) % 997
    # a permutation of 0..rows-1, so every title and country appears whatever the day
    h = (F.col("id") * 7919 + seed) % args.rows
    title = F.floor(F.pow(h / args.rows, 2) * len(TITLES)).cast("int")
    plays = spark.range(args.rows).select(
        F.lit(args.ds).cast("date").alias("ds"),
        (F.col("id") * 37 % 250).cast("int").alias("user_id"),
        F.element_at(F.array(*map(F.lit, TITLES)), title + 1).alias("title"),
        F.element_at(F.array(*map(F.lit, COUNTRIES)), (h % len(COUNTRIES) + 1).cast("int")).alias(
            "country"
        ),
        (h * 13 % 3000 + 60).cast("int").alias("seconds"),
    )
    plays.coalesce(1).write.mode("overwrite").parquet(args.out)
    count = spark.read.parquet(args.out).count()
    print(f"extracted {count} plays for {args.ds} into {args.out}")
    with open(os.environ["MAESTRO_OUTPUT"], "a") as out:
        out.write(f"rows={count}\npath={args.out}\n")
    spark.stop()


if __name__ == "__main__":
    main()
