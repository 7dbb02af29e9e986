# A minute's reading: demo runs an example, test runs the suite, lint checks, bench measures.
.PHONY: demo test lint format bench bench-distributed

demo:  ## run examples/hello.yaml on the embedded store
	pip install -q -e . && maestro run examples/hello.yaml

test:  ## the whole suite (starts a throwaway PostgreSQL)
	bash scripts/test.sh

lint:  ## ruff (lint + format check), mypy strict, import-linter layer contracts
	ruff check .
	ruff format --check .
	mypy
	lint-imports

format:
	ruff check --fix .
	ruff format .

bench:  ## embedded benchmarks; JSON on stdout
	python3 -m bench.embedded

bench-distributed:  ## PostgreSQL + Redis + scheduler + worker processes; JSON on stdout
	bash -c 'source scripts/pg.sh && python3 -m bench.distributed'
