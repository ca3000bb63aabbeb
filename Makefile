# autochain — two commands do everything on a fresh Debian machine:
#   make up     install what is missing, build, run a self-healing local cluster: a registry that
#               keeps 3 node processes running (dashboard on http://127.0.0.1:9090/, one REST
#               address for them all, the gateway, on http://127.0.0.1:8080)
#   make test   install what is missing, build, run every test
# and for the same cluster in Docker (each installs and starts a Docker engine when none answers):
#   make up-docker  image + docker-compose up -d: registry and node1..3, waits until healthy
#   make down       stop it (registry first); volumes kept, `make down WIPE=1` deletes them too
#   make logs       the last 100 lines of every container, merged (FOLLOW=1 follows)
#   make status     containers, health, and the registry's leader, quorum, nodes and last events
#   make health-check  exit 0 when every container is healthy, quorum ok, one head (waits <= 60 s)
# and on Docker Swarm (deploy/swarm/stack.yml; the registry's Swarm provider creates the nodes):
#   make up-swarm   a one-host swarm when the engine is in none, then the stack; waits until healthy
#   make down-swarm remove it (node volumes kept; WIPE=1 deletes those on this host)
#   make swarm-lab  four engines in network namespaces on this machine, one swarm (SWARM_LAB=down)
#   make test-swarm the stack on that lab: containers killed, a host cut off (fenced when back),
#                   the registry's host lost, scale 5 and back (also the last step of make test)
SHELL := /bin/bash
ifneq ($(wildcard /opt/swift/usr/bin/swift),)
export PATH := /opt/swift/usr/bin:$(PATH)
endif

SYSTEM_PACKAGES := libsqlite3-dev libsodium-dev pkg-config curl
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
RELEASE_BIN := .build/release/autochain

.PHONY: deps build release up node image up-docker down logs status health-check test-compose test test-fast \
        check-layout test-conformance test-observability test-readme test-under-stress fuzz sim-long bench bench-compose clean \
        up-swarm down-swarm swarm-lab test-swarm

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
	swift build -c release --product autochain

## up: the whole system locally: registry + dashboard on :9090, gateway on :8080, 3 nodes it keeps at strength
## (Ctrl-C stops everything; run again and the same chain resumes from data/cluster);
## REGISTRY_ADDR=HOST:PORT and GATEWAY_ADDR=HOST:PORT serve elsewhere
REGISTRY_ADDR ?=
GATEWAY_ADDR ?=
up: release
	$(RELEASE_BIN) up --nodes 3 --data-dir data/cluster --config config.toml \
	  $(if $(REGISTRY_ADDR),--addr $(REGISTRY_ADDR)) $(if $(GATEWAY_ADDR),--gateway-addr $(GATEWAY_ADDR))

## node: a single development node on http://127.0.0.1:8080 with config.toml
node: release
	$(RELEASE_BIN) node --config config.toml

## test: every test — unit, simulation, real processes on loopback (a real nginx among them:
## nginx-light is installed first when it can be), 10 s of each fuzz target
## (scripts/fuzz.sh), then the API against its OpenAPI document (schemathesis), an independent
## PyNaCl client, promtool, the registry's dashboard in headless Chromium, deploy/prometheus (promtool
## check config and test rules, a real Prometheus scraping a cluster) and deploy/grafana (every
## metric the dashboard queries is exported), the README's and OPERATIONS.md's commands run as
## written against a fresh cluster (scripts/test-readme.sh), the docker-compose cluster and its
## scenarios (when a Docker engine can be installed and started; skipped with a message
## otherwise), and last the multi-host Swarm scenarios on the lab of four engines in network
## namespaces (scripts/test-swarm.sh: skipped with a message without root, namespaces or dockerd;
## bounded at 25 minutes); first of all, `make check-layout`
test: deps check-layout
	@[ -x /usr/sbin/nginx ] || { echo "installing nginx-light (ProcessTests.Nginx runs a real nginx; Debian starts its nginx service too)"; \
	  ($(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq nginx-light >/dev/null) \
	  || echo "nginx-light cannot be installed here: ProcessTests.Nginx will be skipped"; }
	swift build --build-tests
	swift test --skip-build 2>&1 | tee .build/test.log; exit $${PIPESTATUS[0]}
	FUZZ_SECONDS=10 FUZZ_JOBS=2 scripts/fuzz.sh
	AUTOCHAIN_BIN=$$(swift build --show-bin-path)/autochain INSTALL_MISSING=1 scripts/test-api-conformance.sh
	AUTOCHAIN_BIN=$$(swift build --show-bin-path)/autochain INSTALL_MISSING=1 scripts/test-dashboard.sh
	AUTOCHAIN_BIN=$$(swift build --show-bin-path)/autochain INSTALL_MISSING=1 scripts/test-observability.sh
	AUTOCHAIN_BIN=$$(swift build --show-bin-path)/autochain scripts/test-readme.sh
	INSTALL_COMPOSE_V2=1 scripts/test-compose.sh
	timeout --kill-after=180 1500 scripts/test-swarm.sh

## fuzz: every libFuzzer target in fuzz/ (HTTP parser, chunked decoder, JSON, TOML, transactions,
## blocks, peer lines, registry bodies) for FUZZ_SECONDS each (default 60; FUZZ_TARGETS="json toml"
## picks some, FUZZ_JOBS=2 runs two at once); fails on a crash, keeping it in .build-fuzz/crashes/
FUZZ_SECONDS ?= 60
FUZZ_JOBS ?= 1
fuzz: deps
	FUZZ_SECONDS=$(FUZZ_SECONDS) FUZZ_TARGETS="$(FUZZ_TARGETS)" FUZZ_JOBS=$(FUZZ_JOBS) scripts/fuzz.sh

test-conformance: build
	AUTOCHAIN_BIN=$$(swift build --show-bin-path)/autochain INSTALL_MISSING=1 scripts/test-api-conformance.sh

## sim-long: the simulators over the real cores (cluster schedules, healing with the registry core,
## a faulty member) over SIM_SEEDS seeds each (default 20000; SIM_FIRST_SEED shifts the range);
## a failing seed prints its replay command (SIM_SEED=n swift test --filter <test>)
SIM_SEEDS ?= 20000
sim-long: deps
	swift build --build-tests
	SIM_SEEDS=$(SIM_SEEDS) SIM_FIRST_SEED=$(SIM_FIRST_SEED) swift test --skip-build \
	  --filter 'simulator_randomSchedules|healingSimulator_registryRepairs|simulator_aFaultyMember'

## test-observability: deploy/prometheus and deploy/grafana against promtool, a cluster and a real Prometheus
test-observability: build
	AUTOCHAIN_BIN=$$(swift build --show-bin-path)/autochain INSTALL_MISSING=1 scripts/test-observability.sh

## test-readme: the README's and OPERATIONS.md's command blocks, in order, against a fresh cluster
test-readme: build
	AUTOCHAIN_BIN=$$(swift build --show-bin-path)/autochain scripts/test-readme.sh

## check-layout: every target's imports are the dependencies Package.swift lists, and the import
## graph in docs/DESIGN-NOTES.md is the one the sources make (scripts/import-graph.sh --write
## rewrites it)
check-layout:
	scripts/import-graph.sh --check

## test-under-stress: the proof that the suite does not flake: a clean clone of HEAD runs `make test`
## RUNS times in a row (default 3) beside `stress-ng --cpu 2` (installed when missing); a summary
## with each run's result, duration and load average, and the logs, under .build/stress-test/.
## Not part of make test or CI: it takes RUNS times as long as make test on a loaded machine.
RUNS ?= 3
test-under-stress:
	RUNS=$(RUNS) scripts/stress-test.sh

## test-fast: unit tests only (no process tests), for the inner loop
test-fast: deps
	swift test --skip ProcessTests

## image: the Docker image, built offline (no pull): a base from the binary's own libraries
image: deps
	scripts/docker/build-image.sh

## up-docker: the cluster in Docker — `make image`, then docker-compose up -d; waits until healthy
## (dashboard on http://127.0.0.1:9090/, nodes' REST API on 127.0.0.1:8000-8002)
up-docker: deps
	scripts/docker/cluster.sh up

## down: stop the Docker cluster (registry first) and remove its containers and network; the
## volumes stay, so the next up-docker resumes the chain (WIPE=1 deletes them too)
down:
	scripts/docker/cluster.sh down

## logs: the last 100 lines (TAIL=N) of every container of the Docker cluster; FOLLOW=1 follows
logs:
	scripts/docker/cluster.sh logs

## status: the Docker cluster's containers and health, and the registry's view and last events
status:
	scripts/docker/cluster.sh status

## health-check: exit 0 when the Docker cluster is healthy (every container, quorum, one head)
health-check:
	scripts/docker/cluster.sh health

## up-swarm: the cluster on Docker Swarm (deploy/swarm/stack.yml) on the engine `docker` talks to
## (DOCKER_HOST picks another, e.g. the lab's: `eval $$(scripts/swarm-lab.sh env 1)`); initialises a
## one-host swarm when the engine is in none (down-swarm leaves it again)
up-swarm: deps
	scripts/swarm-up.sh up

## down-swarm: remove the Swarm stack and the node services the registry made (WIPE=1: volumes too)
down-swarm:
	scripts/swarm-up.sh down

## swarm-lab: a four-host swarm on this machine (root: network namespaces; three managers and a
## spare worker), SWARM_LAB=up|down|status
swarm-lab:
	scripts/swarm-lab.sh $(or $(SWARM_LAB),up)

## test-swarm: the stack on the lab (four hosts: three managers and a spare): deploy, kill a
## follower, kill the leader, cut a host off (its node replaced; its old copy fenced when the link
## returns), power off the registry's host (the registry runs on another manager and heals), scale
## 5 and back to 3; after each one head and every acknowledged transfer on every node (skipped
## where the lab cannot be built)
test-swarm: deps
	scripts/test-swarm.sh

## test-compose: the docker-compose cluster and the scenarios operators run (starts a Docker
## engine when it can, skips when none can be had; COMPOSE=v1|v2 picks the Compose that runs them)
test-compose: deps
	INSTALL_COMPOSE_V2=1 scripts/test-compose.sh

## bench-compose: kill -> caught-up replacement and kill -> restart timings of the compose cluster,
## and committed transfers/s through it next to the same cluster as local processes
bench-compose: deps
	scripts/bench/compose.sh

bench: release
	scripts/bench/single-node.sh

clean:
	rm -rf .build .build-fuzz
