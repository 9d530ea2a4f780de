# Sourced by the other scripts: one place for the paths every step shares.
# Cargo's target dir lives outside the clone so a fresh clone (and CI) reuses the last build.
export HERMES_CACHE="${HERMES_CACHE:-$HOME/.cache/hermes}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HERMES_CACHE/target}"
export HERMES_VENV="$HERMES_CACHE/venv"
export SAM_CLI_TELEMETRY=0
export PATH="$HERMES_VENV/bin:$PATH"
HERMES_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export HERMES_ROOT
mkdir -p "$HERMES_CACHE"
