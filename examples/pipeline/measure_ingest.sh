#!/bin/bash
# Measures what the README's "Bulk ingest" figures say: the batch-size sweep on 100,000 x 384
# and peak RSS at 1,000,000 x 384. Needs Python 3 + NumPy, DATABASE_URL (a database this may
# create and drop the collections `sweep` and `big` in), and a release build:
#
#   cargo build --release && examples/pipeline/measure_ingest.sh [WORKDIR]
#
# Prints one line per run: round, mode, batch size, rows/s, peak RSS bytes.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
B=${EMBEDSTORE_BIN:-$HERE/../../target/release/embedstore}
WORK=${1:-${TMPDIR:-/tmp}/embedstore-measure}
PYTHON=${EMBEDSTORE_PYTHON:-python3}
[ -f "$WORK/100k/vectors.npy" ] || "$PYTHON" "$HERE/make_embeddings.py" "$WORK/100k" --rows 100000
[ -f "$WORK/1m/vectors.npy" ] || "$PYTHON" "$HERE/make_embeddings.py" "$WORK/1m" --rows 1000000
summary() { "$PYTHON" -c 'import json,sys; d=json.loads(sys.stdin.read().splitlines()[-1]); print(round(d["rows_per_second"]), d["peak_rss_bytes"])'; }
fresh() {
  "$B" collection drop "$1" --yes >/dev/null 2>&1 || true
  "$B" collection create "$1" --dimension 384 --metric cosine --model measure >/dev/null
}
# Sizes interleaved over rounds so that the machine's load hits every size alike.
for round in 1 2 3; do
  for mode in insert upsert; do
    for size in 1000 2000 5000 10000 20000; do
      fresh sweep
      echo "$round $mode $size $("$B" ingest sweep --vectors "$WORK/100k/vectors.npy" --records "$WORK/100k/records.jsonl" \
        --mode "$mode" --batch-size "$size" --progress off --format json | summary)"
    done
  done
done
"$B" collection drop sweep --yes >/dev/null
fresh big
echo "1M upsert default-batch $("$B" ingest big --vectors "$WORK/1m/vectors.npy" --records "$WORK/1m/records.jsonl" --progress off --format json | summary)"
/usr/bin/time -f "export %e s, max RSS %M KB" "$B" export big --out "$WORK/1m-export"
cmp "$WORK/1m/vectors.npy" "$WORK/1m-export/vectors.npy" && echo "export byte-identical to numpy.save's file"
"$B" collection drop big --yes >/dev/null
