#!/usr/bin/env bash
# Runs every Fuzz* target briefly (FUZZTIME, default 5s each); the seed corpora run in go test.
# A failing input is saved under testdata/fuzz and fails the run. A failure that leaves no input
# behind is the fuzzing engine's own trouble (a worker that did not stop in time on a loaded
# machine): the target is run again (up to three times), and its output is shown either way.
set -uo pipefail
cd "$(dirname "$0")/.."
t=${FUZZTIME:-5s}
failed=0
for pkg in $(go list ./...); do
  dir=$(go list -f '{{.Dir}}' "$pkg")
  for f in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //'); do
    echo "fuzz: $pkg $f ($t)"
    for attempt in 1 2 3; do
      before=$(ls "$dir/testdata/fuzz/$f" 2>/dev/null | wc -l)
      if out=$(go test -run '^$' -fuzz "^$f\$" -fuzztime "$t" "$pkg" 2>&1); then
        break
      fi
      after=$(ls "$dir/testdata/fuzz/$f" 2>/dev/null | wc -l)
      echo "$out" | tail -40
      if [ "$after" -gt "$before" ] || [ "$attempt" = 3 ]; then
        echo "fuzz: $pkg $f FAILED"
        failed=1
        break
      fi
      echo "fuzz: $pkg $f: the engine failed without a failing input; running it again"
    done
  done
done
if [ "$failed" != 0 ]; then
  exit 1
fi
echo "fuzz: done"
