#!/usr/bin/env bash
# Proves scripts/setup-postgres.sh from a clean state WITHOUT touching this machine's server.
#
#   sudo scripts/setup-from-scratch-check.sh
#
# Runs in a private mount namespace (unshare -m; root only): the PostgreSQL cluster
# configuration, data, sockets and logs are empty tmpfs mounts and pgvector's installed files
# (extension .control/.sql, vector.so, bitcode, headers) are hidden by overlayfs whiteouts. So
# setup-postgres.sh must create a cluster (pg_createcluster picks a free port), fetch the newest
# pgvector source from Debian, build and install it, and create the role, database and
# extension. It is then run a second time (the idempotent fast path), the result is checked
# with a vector query, and both wall times are printed. Everything written lives only in the
# namespace; the cluster started inside is stopped by pid before the namespace ends. OS
# packages (compiler, server headers) are NOT removed: that would disturb the shared machine.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
die() {
    printf 'setup-from-scratch-check: %s\n' "$*" >&2
    exit 1
}
[ "$(id -u)" -eq 0 ] || die "needs root (mount namespace, overlayfs)"
if [ "${1:-}" != --inside ]; then
    exec unshare --mount --propagation private "${BASH_SOURCE[0]}" --inside
fi

MAJOR=$(ls /usr/lib/postgresql | sort -V | tail -n1)
PC=/usr/lib/postgresql/$MAJOR/bin/pg_config
SCRATCH=$(mktemp -d /tmp/embedstore-scratch-setup.XXXXXX)
chmod 755 "$SCRATCH"

for dir in /etc/postgresql /var/lib/postgresql /var/run/postgresql /var/log/postgresql; do
    mkdir -p "$dir"
    mount -t tmpfs -o mode=0775 tmpfs "$dir"
    chown postgres:postgres "$dir"
done
chmod 2775 /var/run/postgresql
hide() { # hide(dir, glob...): overlay dir and delete the matching files in the overlay only
    local dir=$1 key
    shift
    [ -d "$dir" ] || return 0
    key=$(printf '%s' "$dir" | tr '/' '_')
    mkdir -p "$SCRATCH/upper$key" "$SCRATCH/work$key"
    mount -t overlay overlay -o "lowerdir=$dir,upperdir=$SCRATCH/upper$key,workdir=$SCRATCH/work$key" "$dir"
    (cd "$dir" && for glob in "$@"; do rm -rf -- $glob; done)
}
hide "$("$PC" --sharedir)/extension" 'vector.control' 'vector--*.sql'
hide "$("$PC" --pkglibdir)" 'vector.so' 'bitcode/vector' 'bitcode/vector.index.bc'
hide "$("$PC" --includedir-server)/extension" 'vector'
stop_cluster() {
    local pid
    for pid in /var/run/postgresql/*.pid; do
        [ -r "$pid" ] || continue
        pid=$(head -n1 "$pid")
        kill -INT "$pid" 2>/dev/null || true
        while kill -0 "$pid" 2>/dev/null; do sleep 0.2; done
    done
}
trap stop_cluster EXIT

[ ! -e "$("$PC" --pkglibdir)/vector.so" ] || die "pgvector still visible"
printf 'clean state: no clusters (%s), no pgvector files for PostgreSQL %s\n' \
    "$(pg_lsclusters -h | wc -l)" "$MAJOR"

now() { date +%s.%N; }
t0=$(now)
url=$(env -u DATABASE_URL bash "$ROOT/scripts/setup-postgres.sh" | tail -n1)
t1=$(now)
url2=$(env -u DATABASE_URL bash "$ROOT/scripts/setup-postgres.sh" | tail -n1)
t2=$(now)
[ "$url" = "$url2" ] || die "second run printed another URL"
url=${url#DATABASE_URL=}
check=$(psql "$url" -X -A -t -c "select (select extversion from pg_extension where extname = 'vector'),
    (select default_version from pg_available_extensions where name = 'vector'),
    '[1,2,3]'::vector <-> '[1,2,5]'::vector")
pg_lsclusters >&2
printf 'first run (from scratch): %.1f s\nsecond run (fast path): %.2f s\n' \
    "$(echo "$t1 - $t0" | bc)" "$(echo "$t2 - $t1" | bc)"
printf 'extversion|available|distance: %s\n' "$check"
case $check in *'|2') ;; *) die "unexpected check result $check" ;; esac
