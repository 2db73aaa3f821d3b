#!/usr/bin/env bash
# Make sure the system packages the project needs are present: install them as root on Debian/Ubuntu,
# otherwise print the exact command and stop.
set -euo pipefail

need=()

pg_bindir() {
    local d
    if command -v pg_config >/dev/null && [ -x "$(pg_config --bindir)/initdb" ]; then
        pg_config --bindir; return
    fi
    for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
        [ -x "$d/initdb" ] && { echo "$d"; return; }
    done
}

check() {
    need=()
    python3 -c 'import ensurepip, venv' 2>/dev/null || need+=(python3-venv)
    command -v ogr2ogr >/dev/null || need+=(gdal-bin)
    command -v npm >/dev/null || need+=(npm)
    # The browser tests drive Debian's chromium (no downloaded browser); a CJK font makes screenshots legible.
    [ -x /usr/bin/chromium ] || need+=(chromium)
    [ -d /usr/share/fonts/truetype/wqy ] || need+=(fonts-wqy-microhei)
    # make bench drives the tile server with wrk (requests per second of a cached tile).
    command -v wrk >/dev/null || need+=(wrk)
    if [ -z "${DATABASE_URL:-}" ]; then
        local bindir major
        bindir=$(pg_bindir || true)
        if [ -z "$bindir" ]; then
            need+=(postgresql)
        else
            major=$(basename "$(dirname "$bindir")")
            [[ "$major" =~ ^[0-9]+$ ]] || major=$("$bindir/postgres" --version | sed -E 's/.* ([0-9]+)\..*/\1/')
            [ -f "/usr/share/postgresql/$major/extension/postgis.control" ] || need+=("postgresql-$major-postgis-3")
        fi
    fi
}

check
[ ${#need[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
    echo "Missing system packages: ${need[*]}" >&2
    echo "Install them with:" >&2
    echo "    sudo apt-get install -y ${need[*]}" >&2
    echo "(PostGIS for another PostgreSQL version is postgresql-<major>-postgis-3.)" >&2
    exit 1
fi

echo "Installing system packages: ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq "${need[@]}" >/dev/null
# PostGIS is named after the server's major version, which is known only once the server is installed.
check
if [ ${#need[@]} -gt 0 ]; then
    apt-get install -y -qq "${need[@]}" >/dev/null
    check
fi
if [ ${#need[@]} -gt 0 ]; then
    echo "Still missing after apt-get: ${need[*]}" >&2
    exit 1
fi
