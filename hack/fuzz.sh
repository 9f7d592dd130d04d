#!/usr/bin/env bash
# hack/fuzz.sh - run every fuzz target of the three modules (functions/,
# hack/, test/; today all are in functions/) for FUZZTIME each.
#
# Usage:
#   hack/fuzz.sh                 every FuzzX in functions/, hack/ and test/
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

# targets: "package-dir FuzzName" per line, from the source. go test runs
# from the root: go.work makes ./hack/... and ./test/... packages too.
targets() {
  local dirs=()
  for d in functions hack test; do [[ -d $d ]] && dirs+=("$d"); done
  grep -rEo --include='*_test.go' '^func Fuzz[A-Za-z0-9_]+\(f \*testing\.F\)' "${dirs[@]}" |
    sed -E 's#^(.*)/[^/]+_test\.go:func (Fuzz[A-Za-z0-9_]+).*#\1 \2#' | sort -u
}

# fuzz_one runs one target. Go 1.26's fuzzing coordinator can fail a target
# with a bare "context deadline exceeded" as -fuzztime runs out, while a
# worker is still mid-call: a race in internal/fuzz (golang/go#75804, fixed
# in Go 1.27), not a failing input, and it writes none. Such a run, and only
# such a run (that line right after the target's --- FAIL, no new input in
# testdata/fuzz/<target>), is run once more; a second failure counts.
fuzz_one() {
  local dir=$1 name=$2 out corpus before attempt
  shift 2
  out=$(mktemp)
  corpus="${dir}/testdata/fuzz/${name}"
  for attempt in 1 2; do
    before=$(inputs "$corpus")
    if go "$@" "./${dir}" 2>&1 | tee "$out"; then
      rm -f "$out"
      return 0
    fi
    if [[ $attempt -eq 1 && $(inputs "$corpus") -eq $before ]] &&
      grep -A1 -E "^--- FAIL: ${name} " "$out" | grep -qxE '[[:space:]]+context deadline exceeded'; then
      echo "fuzz: ${name} stopped on Go's -fuzztime race (golang/go#75804, no failing input written): once more" >&2
      continue
    fi
    break
  done
  rm -f "$out"
  return 1
}

# inputs counts the saved inputs in a corpus directory (0 if there is none).
inputs() {
  if [[ -d $1 ]]; then ls -A "$1" | wc -l; else echo 0; fi
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
  if ! fuzz_one "$dir" "$name" "${args[@]}"; then
    failed+=("${name}")
  fi
  ran=$((ran + 1))
done < <(targets)

if [[ $ran -eq 0 ]]; then
  echo "fuzz: no fuzz target matched ${want[*]:-anything}" >&2
  exit 1
fi
if [[ ${#failed[@]} -gt 0 ]]; then
  echo "fuzz: FAILED: ${failed[*]} (a failing input found is in its package's testdata/fuzz/)" >&2
  exit 1
fi
echo "fuzz: ${ran} targets passed" >&2
