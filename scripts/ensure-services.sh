#!/bin/sh
# The suite runs against a real PostgreSQL at 127.0.0.1:5432 (database `test`, trust auth) and, for SQL
# tasks and data sources, a real MariaDB at 127.0.0.1:3306 (root, no password, database `test`).
# Start each local server if it is installed but down; otherwise say what is missing and fail.
# Idempotent and instant when both are up.
set -eu

wait_until() {  # wait_until WHAT COMMAND...: poll COMMAND for up to 30 s
    what=$1
    shift
    i=0
    until "$@" >/dev/null 2>&1; do
        i=$((i + 1))
        [ "$i" -gt 60 ] && { echo "$what did not become ready" >&2; exit 1; }
        sleep 0.5
    done
}

pg_up() { pg_isready -q -h 127.0.0.1 -p 5432; }
if ! { command -v pg_isready >/dev/null 2>&1 && pg_up; }; then
    if command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
        echo "PostgreSQL is down; starting the local cluster" >&2
        pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n 1)" main start
        wait_until PostgreSQL pg_up
    else
        echo "PostgreSQL is not reachable at 127.0.0.1:5432 (database 'test', trust auth); start it and rerun" >&2
        exit 1
    fi
fi

maria_up() { mariadb-admin --protocol=tcp -h 127.0.0.1 -P 3306 -u root ping; }
if ! { command -v mariadb-admin >/dev/null 2>&1 && maria_up >/dev/null 2>&1; }; then
    if [ -x /usr/sbin/mariadbd ] && command -v start-stop-daemon >/dev/null 2>&1; then
        echo "MariaDB is down; starting the local server" >&2
        start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd
        wait_until MariaDB maria_up
    else
        echo "MariaDB is not reachable at 127.0.0.1:3306 (root, no password, database 'test'); start it and rerun" >&2
        exit 1
    fi
fi
mariadb --protocol=tcp -h 127.0.0.1 -P 3306 -u root -e 'CREATE DATABASE IF NOT EXISTS test' >/dev/null
