# Quick start: `make demo` runs the reference ML pipeline (dags/ml_retraining.ts) on the embedded
# defaults, on Docker when an engine answers, else as processes (scripts/demo.sh); `make test` runs
# every test (it starts Postgres, dockerd and a Kubernetes test cluster itself).
.PHONY: demo test setup dev build lint typecheck bench clean

setup:
	@bash scripts/setup.sh

demo:
	@bash scripts/demo.sh

dev: setup
	@PATH="$(CURDIR)/.tools/bin:$$PATH" node bin/updraft.js dev

test:
	@bash scripts/test.sh

build:
	@npm run --silent build

lint:
	@npm run --silent lint

typecheck:
	@npm run --silent typecheck

bench: setup
	@PATH="$(CURDIR)/.tools/bin:$$PATH" npm run --silent bench

clean:
	rm -rf dist .updraft
