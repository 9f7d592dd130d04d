#!/usr/bin/env bash
# hack/fuzz.sh - run every fuzz target under functions/ for FUZZTIME each.
#
# Usage:
#   hack/fuzz.sh                 every FuzzX in functions/...
#   hack/fuzz.sh FuzzBuy ...     only these targets
#
# Each target's seed corpus (f.Add, testdata/fuzz) also runs in every plain
# `go test`; this script goes on from there with generated inputs. A target
# that fails leaves the failing input in its package's testdata/fuzz/<target>/
# and the script exits non-zero after trying the others: commit that file with
# the fix, so the case stays a regression test.
#
# Environment (all optional):
#   FUZZTIME     how long each target runs (default 10s; go test -fuzztime syntax, e.g. 30s, 5000x)
#   FUZZ_PARALLEL  fuzzing workers per target (default: GOMAXPROCS)
set -euo pipefail
cd "$(dirname "$0")/.."

FUZZTIME="${FUZZTIME:-10s}"

# targets: "package-dir FuzzName" per line, from the source.
targets() {
  grep -rEo --include='*_test.go' '^func Fuzz[A-Za-z0-9_]+\(f \*testing\.F\)' functions |
    sed -E 's#^(.*)/[^/]+_test\.go:func (Fuzz[A-Za-z0-9_]+).*#\1 \2#' | sort -u
}

want=("$@")
failed=()
ran=0
while read -r dir name; do
  if [[ ${#want[@]} -gt 0 && ! " ${want[*]} " =~ " ${name} " ]]; then
    continue
  fi
  echo "fuzz: ${name} in ./${dir} for ${FUZZTIME}" >&2
  args=(test -run '^$' -fuzz "^${name}\$" -fuzztime "$FUZZTIME")
  [[ -n "${FUZZ_PARALLEL:-}" ]] && args+=(-parallel "$FUZZ_PARALLEL")
  if ! go "${args[@]}" "./${dir}"; then
    failed+=("${name}")
  fi
  ran=$((ran + 1))
done < <(targets)

if [[ $ran -eq 0 ]]; then
  echo "fuzz: no fuzz target matched ${want[*]:-anything}" >&2
  exit 1
fi
if [[ ${#failed[@]} -gt 0 ]]; then
  echo "fuzz: FAILED: ${failed[*]} (failing inputs are in testdata/fuzz/)" >&2
  exit 1
fi
echo "fuzz: ${ran} targets passed" >&2
