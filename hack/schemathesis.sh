#!/usr/bin/env bash
# hack/schemathesis.sh - property-based API tests of a running function
# against its own OpenAPI document, with schemathesis.
#
# Usage:
#   hack/schemathesis.sh URL       e.g. hack/schemathesis.sh http://127.0.0.1:8080
#   hack/schemathesis.sh install   only install schemathesis (for CI, like kafka.sh fetch)
#
# It reads the schema from URL/openapi.yaml (both functions serve theirs) and
# sends generated requests, valid and invalid, to every operation in it. It
# fails when an answer is a 5xx (not_a_server_error), does not match the
# documented schema (response_schema_conformance), has a status the document
# does not list (status_code_conformance) or a Content-Type it does not list
# (content_type_conformance).
#
# Schemathesis is installed on first use, with pip, into a venv under
# ~/.cache/scalable-shop/venv (python3 3.9+ needed).
#
# Environment (all optional):
#   SCHEMATHESIS_VERSION       pinned version (default 4.32.5)
#   SCHEMATHESIS_VENV          venv (default $HOME/.cache/scalable-shop/venv)
#   SCHEMATHESIS_MAX_EXAMPLES  generated cases per operation (default 50)
#   SCHEMATHESIS_TIMEOUT       hard limit of the whole run in seconds (default 300)
#   SCHEMATHESIS_SEED          fixed seed, to repeat a run (default: random)
#   SCHEMATHESIS_REPORT        directory for a JUnit report (default: none)
set -euo pipefail

SCHEMATHESIS_VERSION="${SCHEMATHESIS_VERSION:-4.32.5}"
SCHEMATHESIS_VENV="${SCHEMATHESIS_VENV:-${HOME:-/root}/.cache/scalable-shop/venv}"
SCHEMATHESIS_MAX_EXAMPLES="${SCHEMATHESIS_MAX_EXAMPLES:-50}"
SCHEMATHESIS_TIMEOUT="${SCHEMATHESIS_TIMEOUT:-300}"

log() { printf 'schemathesis.sh: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

[[ $# -eq 1 ]] || { printf 'usage: %s URL|install\n' "$0" >&2; exit 2; }
base="${1%/}"
case "$base" in
  install | http://127.* | http://localhost[:/]* | http://localhost | http://\[::1\]*) ;;
  *) die "URL must be a loopback address (http://127.0.0.1:PORT, http://localhost:PORT): got ${base}" ;;
esac

st="${SCHEMATHESIS_VENV}/bin/schemathesis"
installed() {
  [[ -x "$st" ]] && "${SCHEMATHESIS_VENV}/bin/python" -m pip show schemathesis 2>/dev/null |
    grep -qx "Version: ${SCHEMATHESIS_VERSION}"
}
if ! installed; then
  command -v python3 >/dev/null 2>&1 || die "python3 not found (needed to install schemathesis)"
  mkdir -p "$(dirname "$SCHEMATHESIS_VENV")"
  # Serialise concurrent installs into the same venv.
  if command -v flock >/dev/null 2>&1; then
    exec 9>"${SCHEMATHESIS_VENV}.lock"
    flock 9
  fi
  if ! installed; then
    log "installing schemathesis ${SCHEMATHESIS_VERSION} into ${SCHEMATHESIS_VENV}"
    if [[ ! -x "${SCHEMATHESIS_VENV}/bin/python" ]] && ! python3 -m venv "$SCHEMATHESIS_VENV" >&2; then
      rm -rf "$SCHEMATHESIS_VENV"
      die "python3 -m venv failed (on Debian: apt-get install python3-venv)"
    fi
    "${SCHEMATHESIS_VENV}/bin/python" -m pip install --quiet --disable-pip-version-check \
      "schemathesis==${SCHEMATHESIS_VERSION}" >&2 || die "pip install schemathesis==${SCHEMATHESIS_VERSION} failed"
  fi
  if command -v flock >/dev/null 2>&1; then
    exec 9>&-
  fi
fi

if [[ "$base" == install ]]; then
  "$st" --version >&2
  exit 0
fi

args=(run "${base}/openapi.yaml" --url "$base"
  --checks not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance
  --max-examples "$SCHEMATHESIS_MAX_EXAMPLES"
  --request-timeout 20
  --generation-database none
  --no-color)
[[ -n "${SCHEMATHESIS_SEED:-}" ]] && args+=(--seed "$SCHEMATHESIS_SEED")
[[ -n "${SCHEMATHESIS_REPORT:-}" ]] && args+=(--report junit --report-dir "$SCHEMATHESIS_REPORT")

log "testing ${base} against ${base}/openapi.yaml (${SCHEMATHESIS_MAX_EXAMPLES} examples per operation, at most ${SCHEMATHESIS_TIMEOUT} s)"
# SIGTERM at the limit, SIGKILL 10 s later; exit status 124 means the limit was hit.
exec timeout --kill-after=10 "$SCHEMATHESIS_TIMEOUT" "$st" "${args[@]}"
