# A minute's reading: demo runs an example, test runs the suite, lint checks, bench measures.
.PHONY: demo install test lint format bench bench-distributed lock upgrade-deps

demo:  ## run examples/hello.yaml on the embedded store
	bash scripts/install.sh && maestro run examples/hello.yaml

install:  ## every locked development dependency (requirements/dev.lock) into this environment
	bash scripts/install.sh dev

test:  ## the whole suite (starts a throwaway PostgreSQL)
	bash scripts/test.sh

lint:  ## ruff (lint + format check), mypy strict, import-linter layer contracts
	ruff check .
	ruff format --check .
	mypy
	lint-imports

lock:  ## re-resolve requirements/*.lock after a change to pyproject.toml (keeps other pins)
	bash scripts/lock.sh

upgrade-deps:  ## newest versions pyproject.toml allows, then the whole suite on them
	bash scripts/lock.sh --upgrade
	bash scripts/install.sh dev
	bash scripts/test.sh
	@echo "the suite passed on the refreshed lock: commit requirements/*.lock on its own"

format:
	ruff check --fix .
	ruff format .

bench:  ## embedded benchmarks (handoff, fan-out, then foreach at 1k/10k/25k); JSON on stdout
	python3 -m bench.embedded
	python3 -m bench.foreach

bench-distributed:  ## PostgreSQL + Redis + scheduler + worker processes; JSON on stdout
	bash -c 'source scripts/pg.sh && python3 -m bench.distributed'
