# Shared helpers for the ci/ scripts. Source it; do not run it.
#
# Everything the scripts install lives under .cache/ (git-ignored), pinned,
# and is reused until its pin file changes.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="$ROOT/.cache"
VENV="$CACHE/venv"

# Each step is printed with the seconds since the script started, so that a slow
# step shows in any CI log.
log() { printf '\n==> [%4ds] %s\n' "$SECONDS" "$*" >&2; }

# Create (or re-create after ci/requirements.txt changed) the Python venv.
ensure_venv() {
    local stamp="$VENV/.requirements.sha256"
    local want
    want="$(sha256sum "$ROOT/ci/requirements.txt" | cut -d' ' -f1)"
    if [[ -x "$VENV/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
        return 0
    fi
    log "installing Python tools from ci/requirements.txt into .cache/venv"
    rm -rf "$VENV"
    mkdir -p "$CACHE"
    python3 -m venv "$VENV"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
        -r "$ROOT/ci/requirements.txt"
    echo "$want" >"$stamp"
}
