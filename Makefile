# Sekisho build, test and benchmark entry points.

# The Go release Sekisho is built and tested with. The go command fetches it from the module
# proxy; the Go 1.26.8 of a fresh machine has standard-library advisories (html/template,
# net/http…) that reach Sekisho's code (scripts/vulncheck.sh).
GOTOOLCHAIN ?= go1.27.3
export GOTOOLCHAIN

.PHONY: build build-openssl test test-go vet vulncheck fmt run

build:
	CGO_ENABLED=0 go build -o bin/sekisho ./cmd/sekisho

# The same binary with an OpenSSL-backed RSA signer for tokens (cgo + libssl-dev): about twice
# the signing rate of Go's crypto/rsa (docs/benchmarks.md).
build-openssl:
	CGO_ENABLED=1 go build -tags openssl -o bin/sekisho ./cmd/sekisho

# The whole test suite: installs the peers, starts PostgreSQL, runs every Go test.
test:
	bash scripts/test.sh

vet:
	go vet ./...

vulncheck:
	bash scripts/vulncheck.sh

fmt:
	gofmt -l -w $$(git ls-files '*.go')

run:
	go run ./cmd/sekisho serve --demo

# make bench-NAME runs one benchmark; the last line is its JSON result (docs/benchmarks.md).
bench-%:
	@bash bench/run.sh $*
