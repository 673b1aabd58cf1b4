# Shared helpers for the scripts in scripts/. Sourced, never executed.
# shellcheck shell=bash

PROJECT_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
VENV="${PROJECT_ROOT}/.venv"
export PROJECT_ROOT VENV

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# Run a step and print how long it took.
timed() {
  local label=$1 start end
  shift
  start=$(date +%s)
  "$@"
  end=$(date +%s)
  log "${label}: $((end - start)) s"
}

need_root() {
  [ "$(id -u)" -eq 0 ] || die "this step installs system packages: run it as root (or with sudo)"
}
