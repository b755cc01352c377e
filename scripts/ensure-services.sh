#!/bin/sh
# The store suite runs against a real PostgreSQL at 127.0.0.1:5432 (database `test`, trust auth).
# Start the local cluster if it is installed but down; otherwise say what is missing and fail.
set -eu
if command -v pg_isready >/dev/null 2>&1 && pg_isready -q -h 127.0.0.1 -p 5432; then
    exit 0
fi
if command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
    echo "PostgreSQL is down; starting the local cluster" >&2
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n 1)" main start
    i=0
    until pg_isready -q -h 127.0.0.1 -p 5432; do
        i=$((i + 1))
        [ "$i" -gt 60 ] && { echo "PostgreSQL did not become ready" >&2; exit 1; }
        sleep 0.5
    done
    exit 0
fi
echo "PostgreSQL is not reachable at 127.0.0.1:5432 (database 'test', trust auth); start it and rerun" >&2
exit 1
