#!/usr/bin/env bash
# Copies the reference data from ../shared into tests/data so that a plain clone tests itself, and the digits data set
# (with its README: source and licence) into src/Evaluation.FSharp/Data, where the library embeds it.
# Golden JSON files are stored gzip-compressed (-n: no name or time stamp, so the copy is reproducible).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
shared="${1:-$root/../shared}"
dest="$root/tests/data"
[ -d "$shared/golden" ] || { echo "no $shared/golden" >&2; exit 1; }
mkdir -p "$dest/golden/configs" "$dest/golden/real-configs" "$dest/fixtures"
for f in "$shared"/golden/*.json; do gzip -9 -n -c "$f" > "$dest/golden/$(basename "$f").gz"; done
cp "$shared"/golden/README.md "$dest/golden/README.md"
cp "$shared"/golden/configs/* "$dest/golden/configs/"
cp "$shared"/golden/real-configs/* "$dest/golden/real-configs/"
cp "$shared"/fixtures/* "$dest/fixtures/"
mkdir -p "$root/src/Evaluation.FSharp/Data"
cp "$shared"/data/digits.csv.gz "$shared"/data/README.md "$root/src/Evaluation.FSharp/Data/"
echo "tests/data synced from $shared"
