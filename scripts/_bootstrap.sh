# Sourced by scripts/run and scripts/test: find Python >= 3.11, install the pinned uv into .tools/,
# and sync the locked environment. Needs nothing but Python 3.11+ (with venv or pip).
set -euo pipefail
UV_VERSION="0.13.9"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

find_python() {
  for candidate in python3.13 python3.12 python3.11 python3 python; do
    if command -v "$candidate" >/dev/null 2>&1 &&
      "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
      command -v "$candidate"
      return 0
    fi
  done
  echo "scoreboard needs Python 3.11 or newer on PATH" >&2
  return 1
}

UV="$ROOT/.tools/bin/uv"
if [ ! -x "$UV" ] || [ "$("$UV" --version 2>/dev/null | cut -d' ' -f2)" != "$UV_VERSION" ]; then
  PYTHON="$(find_python)"
  echo "bootstrapping uv $UV_VERSION into .tools/ (once)" >&2
  rm -rf "$ROOT/.tools"
  if "$PYTHON" -m venv "$ROOT/.tools" >/dev/null 2>&1; then
    "$ROOT/.tools/bin/python" -m pip install --quiet --disable-pip-version-check "uv==$UV_VERSION"
  else
    # No venv module (e.g. Debian without python3-venv): install uv's wheel into a plain folder.
    "$PYTHON" -m pip install --quiet --disable-pip-version-check --target "$ROOT/.tools/pkg" "uv==$UV_VERSION"
    mkdir -p "$ROOT/.tools/bin"
    ln -sf "$ROOT/.tools/pkg/bin/uv" "$UV"
  fi
fi
export UV_PYTHON_PREFERENCE="${UV_PYTHON_PREFERENCE:-only-system}"
if ! "$UV" python find '>=3.11' >/dev/null 2>&1; then
  # No system interpreter uv accepts: let it fetch a managed one.
  export UV_PYTHON_PREFERENCE=managed
fi
"$UV" sync --frozen --quiet
