# pgredis: see README.md. Every target runs on a machine with PostgreSQL and
# Redis on their default local ports (or docker compose up -d).
GO       ?= go
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT   ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
LDFLAGS  := -s -w -X main.version=$(VERSION) -X main.commit=$(COMMIT)
FUZZTIME ?= 20s


.PHONY: all build install test lint fast k8s unit fuzz bench bench-smoke demo clean

all: build

build: ## build bin/pgredis, a static binary stamped with version and commit
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/pgredis ./cmd/pgredis

# make install puts bin/pgredis on the PATH: into $(GOBIN) when the Go
# toolchain has one, else /usr/local/bin. Override with BINDIR=DIR (and
# DESTDIR for packaging).
GOBIN   ?= $(shell $(GO) env GOBIN 2>/dev/null)
BINDIR  ?= $(if $(GOBIN),$(GOBIN),/usr/local/bin)

install: build ## copy bin/pgredis to $(BINDIR) ($(GOBIN) or /usr/local/bin; BINDIR=DIR to choose)
	install -d '$(DESTDIR)$(BINDIR)'
	install -m 0755 bin/pgredis '$(DESTDIR)$(BINDIR)/pgredis'
	@echo 'installed $(DESTDIR)$(BINDIR)/pgredis'

lint: ## gofmt, go vet and staticcheck
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) tool staticcheck ./...
	@# deploy/kubernetes is a module of its own: the root's staticcheck, run there.
	sc=$$($(GO) tool -n staticcheck) && cd deploy/kubernetes && $(GO) vet ./... && "$$sc" ./...

fast: k8s ## the fast tier: tests that need no server (the worker's mode transitions, parsing, decoding), in seconds
	$(GO) test -short -count=1 ./...

# deploy/kubernetes is a Go module of its own, so the Kubernetes API
# modules its test needs stay out of pgredis's go.mod (and out of ./...).
k8s: ## the Kubernetes manifests: each decoded strictly into its API type and checked against the code (no server)
	cd deploy/kubernetes && $(GO) vet ./... && $(GO) test -count=1 ./...

unit: ## the whole suite against the local PostgreSQL and Redis, with the race detector
	$(GO) test -race -count=1 -timeout 15m ./...

# The Redis-facing integration tests again, every private and shared test
# server a valkey-server (docs/development.md: "Tested servers").
VALKEY_SERVER ?= valkey-server
VALKEY_WORKER_TESTS := TestMirrorTypesAndStatements|TestKeysFormatsColumnsTTL|TestLargeRows|TestIndexSets|TestIndexSetsCluster|TestTxnAtomicForReaders|TestTxnAtomicClusterHashTag|TestTxnLargeTransactionAtomic|TestBarrierReadYourWrites|TestFaultRedisRestart|TestFaultRedisFlush|TestRedisRefusesWrites|TestRedisRefusesLargeValue|TestAuditRepairsDrift|TestAuditRepairsEvictedKeys|TestRedisCannotHoldTheMirror|TestRedisRestoredFromOlderSnapshot|TestExpireAt|TestWhereFilter|TestReconcileOnStart|TestCaptureRedisRestartInQueueMode|TestTableListedTwice
VALKEY_CMD_TESTS    := TestRedisCluster|TestRedisSentinel|TestRedisTLS|TestRedisMutualTLS|TestResyncStatusAndWorker|TestWorkerKilledAndRestarted

unit-valkey: ## the Redis-facing integration tests against Valkey (VALKEY_SERVER=valkey-server)
	PGREDIS_TEST_REDIS_ADDR= PGREDIS_TEST_REDIS_SERVER=$(VALKEY_SERVER) $(GO) test -race -count=1 -timeout 10m ./internal/testenv -run '^TestRedisServerIsTheOneAsked$$'
	PGREDIS_TEST_REDIS_ADDR= PGREDIS_TEST_REDIS_SERVER=$(VALKEY_SERVER) $(GO) test -race -count=1 -timeout 10m ./worker -run '^($(VALKEY_WORKER_TESTS))$$'
	PGREDIS_TEST_REDIS_ADDR= PGREDIS_TEST_REDIS_SERVER=$(VALKEY_SERVER) $(GO) test -race -count=1 -timeout 10m ./cmd/pgredis -run '^($(VALKEY_CMD_TESTS))$$'

test: lint k8s fast unit unit-valkey bench-smoke ## what CI runs

fuzz: ## short runs of every fuzz target (seeds in testdata/fuzz)
	$(GO) test ./internal/spec -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME)
	$(GO) test ./internal/spec -run '^$$' -fuzz '^FuzzTemplate$$' -fuzztime $(FUZZTIME)
	$(GO) test ./notify -run '^$$' -fuzz '^FuzzDecode$$' -fuzztime $(FUZZTIME)

# The demo uses a scratch database and Redis database 15, and stops its
# worker whatever happens.
DEMO_PG    ?= postgres://root@127.0.0.1:5432/postgres?sslmode=disable
DEMO_DB    ?= pgredis_demo
DEMO_REDIS ?= redis://127.0.0.1:6379/15

demo: build ## shows pgredis working end to end on a scratch database
	@set -eu; \
	db_url=$$(echo '$(DEMO_PG)' | sed 's#/postgres?#/$(DEMO_DB)?#'); \
	psql '$(DEMO_PG)' -qc 'DROP DATABASE IF EXISTS $(DEMO_DB) WITH (FORCE)' -c 'CREATE DATABASE $(DEMO_DB)'; \
	redis-cli -u '$(DEMO_REDIS)' flushdb >/dev/null; \
	export DATABASE_URL=$$db_url REDIS_URL='$(DEMO_REDIS)' PGREDIS_TABLES='products; carts key=cart:{user_id}:{product_id} format=hash ttl=1h'; \
	psql "$$db_url" -q -c "CREATE TABLE products (id int PRIMARY KEY, name text, price numeric(10,2), tags text[], updated_at timestamptz DEFAULT now())" \
		-c "CREATE TABLE carts (user_id int, product_id int, qty int, PRIMARY KEY (user_id, product_id))"; \
	echo '$$ pgredis migrate up'; ./bin/pgredis migrate up; \
	./bin/pgredis worker 2>/tmp/pgredis-demo-worker.log & pid=$$!; trap 'kill $$pid 2>/dev/null; wait $$pid 2>/dev/null || true' EXIT; \
	sleep 1; \
	echo; echo '-- writes: insert 3 products and 2 cart rows, update every price under 10 with one statement, delete one product'; \
	psql "$$db_url" -q -c "INSERT INTO products (id, name, price, tags) VALUES (1, 'tea', 4.50, '{drink}'), (2, 'mug', 12.00, '{kitchen}'), (3, 'spoon', 2.25, NULL)" \
		-c "INSERT INTO carts VALUES (7, 1, 2), (7, 2, 1)" \
		-c "UPDATE products SET price = price * 1.1 WHERE price < 10" \
		-c "DELETE FROM products WHERE name LIKE 'sp%'"; \
	sleep 1; \
	echo; echo '-- PostgreSQL:'; psql "$$db_url" -c 'SELECT * FROM products ORDER BY id' -c 'SELECT * FROM carts ORDER BY 1, 2'; \
	echo '-- Redis:'; \
	for k in $$(redis-cli -u '$(DEMO_REDIS)' --scan | sort); do \
		case $$(redis-cli -u '$(DEMO_REDIS)' type $$k) in \
		string) echo "$$k = $$(redis-cli -u '$(DEMO_REDIS)' get $$k)";; \
		hash) echo "$$k = $$(redis-cli -u '$(DEMO_REDIS)' hgetall $$k | paste -sd' ')  (ttl $$(redis-cli -u '$(DEMO_REDIS)' ttl $$k)s)";; \
		esac; \
	done; \
	echo; echo '$$ pgredis status'; ./bin/pgredis status; \
	echo; echo '$$ pgredis resync'; ./bin/pgredis resync; \
	kill $$pid; wait $$pid || true; trap - EXIT; \
	psql '$(DEMO_PG)' -qc 'DROP DATABASE IF EXISTS $(DEMO_DB) WITH (FORCE)'; redis-cli -u '$(DEMO_REDIS)' flushdb >/dev/null; \
	echo; echo 'demo done: worker stopped, scratch database and Redis db 15 removed'

# The benchmark works in a scratch database pgredis_bench_<pid> and Redis
# database 14 (flushed before and after); see BENCHMARKS.md.
BENCH_FLAGS ?=

bench: build ## measures pgredis against its baselines at full size and prints one table (minutes)
	$(GO) run ./cmd/pgredis-bench -pgredis bin/pgredis $(BENCH_FLAGS)

bench-smoke: build ## the benchmark program at tiny sizes, so it cannot rot (seconds; figures mean nothing)
	$(GO) run ./cmd/pgredis-bench -pgredis bin/pgredis -smoke

clean:
	rm -rf bin
