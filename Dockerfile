# One image for every Maestro process; the `spark` target adds Java and pyspark for the
# workers that serve the `spark` queue (spark and stream steps).
FROM python:3.11-slim AS base
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    MAESTRO_HOME=/var/lib/maestro MAESTRO_PROJECT_DIR=/project
WORKDIR /app
COPY pyproject.toml README.md ./
COPY requirements ./requirements
COPY scripts/install.sh ./scripts/install.sh
COPY maestro ./maestro
COPY workers ./workers
COPY api ./api
COPY migrations ./migrations
# the locked versions (requirements/run.lock: Maestro + sql runtimes), hashes checked
RUN bash scripts/install.sh run && useradd --system --create-home maestro \
    && mkdir -p /var/lib/maestro /project && chown maestro /var/lib/maestro
USER maestro
ENTRYPOINT ["maestro"]

FROM base AS spark
USER root
RUN apt-get update && apt-get install -y --no-install-recommends openjdk-17-jre-headless procps \
    && rm -rf /var/lib/apt/lists/* && bash scripts/install.sh spark
USER maestro
