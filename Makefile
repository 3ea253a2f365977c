# Sekisho build, test and benchmark entry points.
.PHONY: build test test-go vet fmt run

build:
	CGO_ENABLED=0 go build -o bin/sekisho ./cmd/sekisho

# The whole test suite: installs the peers, starts PostgreSQL, runs every Go test.
test:
	bash scripts/test.sh

vet:
	go vet ./...

fmt:
	gofmt -l -w $$(git ls-files '*.go')

run:
	go run ./cmd/sekisho serve --demo

# make bench-NAME runs one benchmark; the last line is its JSON result (docs/benchmarks.md).
bench-%:
	@bash bench/run.sh $*
