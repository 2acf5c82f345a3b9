# Shared set-up for scripts/test and scripts/demo: installs what is missing, fast when nothing is.
# Sourced, not run: leaves the project's virtual environment at $VENV.

set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
# nginx serves the benchmark's sites. chromium: the browser tests and screenshots drive Debian's own build (Playwright never downloads one).
APT_PACKAGES=(libenchant-2-2 hunspell-en-us hunspell-en-gb redis-server chromium fonts-dejavu-core nginx)
# More for one script only (scripts/bench sets EXTRA_APT_PACKAGES="python3.11-doc").
read -r -a extra <<< "${EXTRA_APT_PACKAGES:-}"
APT_PACKAGES+=("${extra[@]}")

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }

install_system_packages() {
    local missing=()
    for pkg in "${APT_PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" \
            || missing+=("$pkg")
    done
    # Debian's Python has no ensurepip (so no `python3 -m venv`) without its -venv package.
    local python="${PYTHON:-python3}"
    if [ ! -x "$VENV/bin/python" ] && command -v "$python" >/dev/null \
        && ! "$python" -c 'import ensurepip' 2>/dev/null; then
        missing+=("python$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')-venv")
    fi
    if ((${#missing[@]})); then
        say "Installing system packages: ${missing[*]}"
        local sudo=""
        if [ "$(id -u)" -ne 0 ]; then
            if ! command -v sudo >/dev/null; then
                echo "error: missing system packages (${missing[*]}): run this as root once," \
                     "or install sudo, or: apt-get install ${missing[*]}" >&2
                exit 1
            fi
            sudo="sudo"
        fi
        $sudo apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
            "${missing[@]}" >/dev/null
    fi
}

install_python_packages() {
    local python="${PYTHON:-python3}"
    if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
        echo "error: Flawless needs Python 3.11 or newer (set PYTHON=/path/to/python3.11)" >&2
        exit 1
    fi
    if [ ! -x "$VENV/bin/python" ]; then
        say "Creating the virtual environment in .venv/"
        "$python" -m venv "$VENV"
    fi
    local stamp="$VENV/.requirements.sha256"
    local want
    want="$(sha256sum "$ROOT/requirements.txt" | cut -d' ' -f1)"
    if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
        say "Installing the pinned Python packages (requirements.txt)"
        PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 "$VENV/bin/python" -m pip install -q \
            --disable-pip-version-check -r "$ROOT/requirements.txt"
        echo "$want" > "$stamp"
    fi
}

install_system_packages
install_python_packages
export PATH="$VENV/bin:$PATH"
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
cd "$ROOT"
