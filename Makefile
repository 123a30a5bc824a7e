.PHONY: run test lint format bench bench-quick smoke mutation

run:  ## run the app at http://127.0.0.1:8000 (SQLite, demo model unless a key is set)
	scripts/run.sh

test:  ## the whole suite, on SQLite then on PostgreSQL + Redis, browsers in Chromium
	scripts/test.sh

lint:  ## what CI checks before the suite: ruff, mypy, djLint, Biome (after `npm ci`)
	.venv/bin/ruff check . && .venv/bin/ruff format --check .
	DJANGO_DEBUG=1 .venv/bin/mypy
	.venv/bin/djlint templates/ --lint
	node_modules/.bin/biome ci static/js

format:
	.venv/bin/ruff check --fix . && .venv/bin/ruff format .

smoke:  ## the REST contract walked black-box against a production-like deployment
	.venv/bin/python ../shared/contract/smoke.py

bench:  ## latency and throughput against a direct call to the upstream (see docs/performance.md)
	scripts/bench.sh

bench-quick:  ## the regression check (~3 min, SQLite): fails when CPU per chat is > 25 % over bench/baseline.json's commit, measured beside it
	scripts/setup.sh dev && .venv/bin/python -m bench.quick

mutation:  ## mutation score per module of conversations/ and accounts/ into docs/testing.md
	scripts/setup.sh dev && .venv/bin/python scripts/mutation.py $(MUTATION_ARGS)
