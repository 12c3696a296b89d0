# Sourced by scripts/run and scripts/test: a project virtualenv with the package installed
# (editable; the Rust extension is rebuilt only when Rust or packaging files changed).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PY="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
    "$PY" -m venv .venv
    .venv/bin/python -m pip install --quiet --upgrade pip
fi
stamp=.venv/.ocpi-engine-installed
if [ ! -f "$stamp" ] || [ -n "$(find rust_core/src rust_core/Cargo.toml Cargo.toml Cargo.lock pyproject.toml -newer "$stamp" 2>/dev/null | head -1)" ] \
    || ! ls rust_core/_native.*.so >/dev/null 2>&1; then
    echo "setup: building and installing ocpi-engine (release build of rust_core)..." >&2
    .venv/bin/python -m pip install --quiet -e ".[test]"
    touch "$stamp"
fi
export PATH="$PWD/.venv/bin:$PATH"
