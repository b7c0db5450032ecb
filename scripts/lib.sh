# Shell functions the scripts share; source it from the repository root (`. scripts/lib.sh`).

# python_env DIR MODULES PIP_ARGS...: creates the virtual environment DIR on first use and, when one of MODULES
# (a comma-separated Python import list) cannot be imported, installs PIP_ARGS into it from PyPI.
python_env() {
    local dir="$1" modules="$2"
    shift 2
    if [ ! -x "$dir/bin/python" ]; then
        python3 -m venv "$dir"
    fi
    if ! "$dir/bin/python" -c "import $modules" 2>/dev/null; then
        "$dir/bin/pip" install --quiet "$@"
    fi
}

# markethub_bin CONFIGURATION PRODUCTS...: unless MARKETHUB_BIN names a build already, builds `markethub` and the
# plugin PRODUCTS in CONFIGURATION (debug or release) and exports MARKETHUB_BIN (the plugins sit next to it).
markethub_bin() {
    local configuration="$1"
    shift
    if [ -z "${MARKETHUB_BIN:-}" ]; then
        for product in markethub "$@"; do
            swift build -c "$configuration" --product "$product" >/dev/null
        done
        MARKETHUB_BIN="$(swift build -c "$configuration" --show-bin-path)/markethub"
    fi
    export MARKETHUB_BIN
}
