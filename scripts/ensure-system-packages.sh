#!/bin/sh
# Debian packages the suite needs beyond Python's: openssh-server (SSH tasks run against a real sshd that the
# tests start on loopback) and a JDK (Spark tasks run spark-submit on a local Spark; the Spark JAR test
# compiles its job with javac). Idempotent: when every command is there it does nothing, in a few ms.
# Installs with apt-get as root (or through sudo) when something is missing; otherwise says what and fails.
set -eu

missing=""
[ -x /usr/sbin/sshd ] || missing="$missing openssh-server"
{ command -v java >/dev/null 2>&1 && command -v javac >/dev/null 2>&1 && command -v jar >/dev/null 2>&1; } \
    || missing="$missing default-jdk-headless"
[ -z "$missing" ] && exit 0

if [ "$(id -u)" = 0 ]; then
    as_root=""
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    as_root="sudo -n"
else
    echo "the test suite needs these Debian packages:$missing; install them (apt-get install$missing) and rerun" >&2
    exit 1
fi
echo "installing Debian packages:$missing" >&2
export DEBIAN_FRONTEND=noninteractive
# The package lists may be missing on a fresh machine; a failed update (offline mirror) is not fatal by itself.
$as_root apt-get update -q >/dev/null || true
# shellcheck disable=SC2086
$as_root apt-get install -y -q --no-install-recommends $missing >/dev/null
# Installing openssh-server may start the system sshd on port 22; the tests start their own on a free port.
