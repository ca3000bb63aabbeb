# autochain — two commands do everything on a fresh Debian machine:
#   make up     install what is missing, build, run a self-healing local cluster: a registry that
#               keeps 3 node processes running (dashboard on http://127.0.0.1:9090/)
#   make test   install what is missing, build, run every test
SHELL := /bin/bash
ifneq ($(wildcard /opt/swift/usr/bin/swift),)
export PATH := /opt/swift/usr/bin:$(PATH)
endif

SYSTEM_PACKAGES := libsqlite3-dev libsodium-dev pkg-config curl
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
RELEASE_BIN := .build/release/autochain

.PHONY: deps build release up node image test-compose test test-fast test-conformance bench clean

## deps: install the system packages the build and the tests need (only the missing ones)
deps:
	@missing=""; for p in $(SYSTEM_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; \
	fi
	@command -v swift >/dev/null || { echo "swift 6 is required (expected at /opt/swift/usr/bin)"; exit 1; }

build: deps
	swift build

release: deps
	swift build -c release

## up: the whole system locally: registry + dashboard on :9090, 3 nodes it keeps at strength
## (Ctrl-C stops everything; run again and the same chain resumes from data/cluster)
up: release
	$(RELEASE_BIN) up --nodes 3 --data-dir data/cluster --config config.toml

## node: a single development node on http://127.0.0.1:8080 with config.toml
node: release
	$(RELEASE_BIN) node --config config.toml

## test: every test — unit, simulation, real processes on loopback, then the API against its
## OpenAPI document (schemathesis), an independent PyNaCl client, promtool, and the registry's
## dashboard in headless Chromium
test: deps
	swift build --build-tests
	swift test --skip-build 2>&1 | tee .build/test.log; exit $${PIPESTATUS[0]}
	AUTOCHAIN_BIN=$$(swift build --show-bin-path)/autochain INSTALL_MISSING=1 scripts/test-api-conformance.sh
	AUTOCHAIN_BIN=$$(swift build --show-bin-path)/autochain INSTALL_MISSING=1 scripts/test-dashboard.sh

test-conformance: build
	AUTOCHAIN_BIN=$$(swift build --show-bin-path)/autochain INSTALL_MISSING=1 scripts/test-api-conformance.sh

## test-fast: unit tests only (no process tests), for the inner loop
test-fast: deps
	swift test --skip ProcessTests

## image: the Docker image, built offline (no pull): a base from the binary's own libraries
image: deps
	scripts/docker/build-image.sh

## test-compose: the docker-compose cluster and the scenarios operators run (needs a Docker engine)
test-compose: deps
	scripts/test-compose.sh

bench: release
	scripts/bench/single-node.sh

clean:
	rm -rf .build
