#!/bin/sh
# Installs every build, test and run dependency of connstate on Debian 12 (idempotent).
#
#   deploy/install-deps.sh           install what is missing (root), or print the command (non-root)
#   deploy/install-deps.sh --check   exit 0 when everything is present, 1 (listing what is not) otherwise
set -u

# Build: compiler, pkg-config and the libraries; test: cmocka, the PostgreSQL 15 server
# (file_fdw ships in postgresql-15), clang + its runtime for libFuzzer, clang-format;
# run: procps (pkill/ps in the tests), util-linux (runuser); the multi-host test bed: iproute2
# (network namespaces, veth, a bridge) and tcpdump (what crosses the wire); the HTTP endpoint:
# libmicrohttpd, and curl and promtool (package prometheus) to read and check it in the tests;
# the dashboard's browser test: chromium, driven over the DevTools protocol by python3-websocket.
PACKAGES="gcc make pkg-config libpq-dev libzmq3-dev libczmq-dev libmsgpack-dev libcmocka-dev libjansson-dev \
postgresql-15 postgresql-client-15 clang libclang-rt-14-dev clang-format procps util-linux \
iproute2 tcpdump libmicrohttpd-dev prometheus curl chromium python3-websocket man-db"

missing=""
for pkg in $PACKAGES; do
    status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null)
    case "$status" in
        *" installed") ;;
        *) missing="$missing $pkg" ;;
    esac
done

if [ -z "$missing" ]; then
    exit 0
fi
if [ "${1:-}" = "--check" ]; then
    echo "connstate: missing packages:$missing" >&2
    exit 1
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "connstate: missing packages:$missing" >&2
    echo "connstate: run as root:  apt-get install -y$missing" >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
echo "connstate: installing$missing" >&2
# A fresh machine may have empty package lists: update once and retry.
if ! apt-get install -y --no-install-recommends $missing; then
    apt-get update && apt-get install -y --no-install-recommends $missing || {
        echo "connstate: apt-get install failed for:$missing" >&2
        exit 1
    }
fi
exit 0
