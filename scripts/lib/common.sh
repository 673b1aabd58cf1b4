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

# The twin's EC2 stand-ins (scripts/twin) running for this checkout, found by their command line,
# so that none is ever doubled or left behind, even when .dev/ec2.pid is gone.
twin_ec2_pids() {
  pgrep -f -- "-m twin run --config ${PROJECT_ROOT}/.dev/ec2.json" || true
}

stop_twin_ec2() {
  local pid
  for pid in $(twin_ec2_pids); do
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    if kill -0 "$pid" 2>/dev/null; then kill -9 "$pid"; fi
  done
}
