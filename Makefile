# surge — the two set-up commands are `make demo` and `make test`.
SHELL := /bin/bash
GO ?= go
BIN := bin/surge
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
APT_PACKAGES := clickhouse-server clickhouse-client kcat wrk

.PHONY: all build deps demo test test-short fuzz bench vet fmt clean

all: build

build:
	$(GO) build -ldflags "-X main.version=$(VERSION)" -o $(BIN) ./cmd/surge

# deps installs the Debian packages surge's demo and tests use, when missing:
# clickhouse-server (local and cluster tests), kcat and python3-confluent-kafka
# (librdkafka clients), wrk (bench), zookeeper (ClickHouse cluster tests),
# chromium and chromium-driver (the campaign page's browser test), prometheus
# (promtool checks of /metrics and alert rules).
deps:
	@missing=""; \
	command -v clickhouse-server >/dev/null || [ -x /usr/sbin/clickhouse-server ] || [ -x /usr/bin/clickhouse-server ] || missing="$$missing clickhouse-server clickhouse-client"; \
	command -v kcat >/dev/null || missing="$$missing kcat"; \
	command -v wrk >/dev/null || missing="$$missing wrk"; \
	[ -f /usr/share/java/zookeeper.jar ] || missing="$$missing zookeeper"; \
	command -v chromium >/dev/null || missing="$$missing chromium chromium-driver"; \
	command -v promtool >/dev/null || missing="$$missing prometheus"; \
	python3 -c 'import confluent_kafka' 2>/dev/null || missing="$$missing python3-confluent-kafka"; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; \
	fi

# demo runs the whole pipeline on the embedded broker and a local ClickHouse
# (data under .surge/) for a one-minute holiday peak, then prints the results.
demo: deps build
	./$(BIN) up $(DEMO_FLAGS)

# test runs every test: unit, integration against kfake and a real local
# ClickHouse, the kill -9 exactly-once tests, and a short fuzz of the decoder.
test: deps
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 15m ./...
	$(GO) test -count=1 -run '^$$' -fuzz FuzzDecode -fuzztime 20s -fuzzminimizetime 3s ./schemas

test-short:
	$(GO) test -short -count=1 ./...

bench: deps build
	$(GO) run ./bench $(BENCH_FLAGS)

vet:
	$(GO) vet ./...

fmt:
	gofmt -l -w $$(git ls-files '*.go')

clean:
	rm -rf bin .surge
