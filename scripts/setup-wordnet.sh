#!/usr/bin/env bash
# Install WordNet 3.0's database (Debian/Ubuntu package wordnet-base: /usr/share/wordnet), the
# synonyms of the paraphrase queries of `scripts/dev bench hybrid` (crates/bench/src/quant/hybrid).
#
# Idempotent: when the files are there it changes nothing and needs neither root nor apt.
# Optional: without WordNet the benchmark still runs, its paraphrases without synonyms (it
# says so in its report). Exit code 0 when the files are there afterwards, 1 otherwise.
set -euo pipefail

readonly DIR=/usr/share/wordnet

log() { printf '[setup-wordnet] %s\n' "$*" >&2; }

present() {
    local name
    for name in index.noun index.verb index.adj index.adv data.noun data.verb data.adj data.adv; do
        [ -r "$DIR/$name" ] || return 1
    done
}

if present; then
    log "WordNet is in $DIR"
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    log "no apt-get here: put WordNet 3.0's index.* and data.* files in $DIR, or pass" \
        "\`--wordnet DIR\` to \`embedstore-bench hybrid\`"
    exit 1
fi
SUDO=()
if [ "$(id -u)" -ne 0 ]; then
    if ! command -v sudo >/dev/null 2>&1; then
        log "installing wordnet-base needs root: run as root or install sudo"
        exit 1
    fi
    SUDO=(sudo)
fi
apt_env=(env DEBIAN_FRONTEND=noninteractive)
if ! apt-cache show wordnet-base >/dev/null 2>&1; then
    log "apt-get update"
    ${SUDO[@]+"${SUDO[@]}"} "${apt_env[@]}" apt-get update -q -o DPkg::Lock::Timeout=300 >&2 ||
        log "WARNING: apt-get update reported errors; continuing with the package lists as they are"
fi
log "apt-get install wordnet-base"
${SUDO[@]+"${SUDO[@]}"} "${apt_env[@]}" apt-get install -y -q --no-install-recommends \
    -o DPkg::Lock::Timeout=300 wordnet-base >&2
if present; then
    log "WordNet is in $DIR"
    exit 0
fi
log "wordnet-base is installed but $DIR lacks its files"
exit 1
