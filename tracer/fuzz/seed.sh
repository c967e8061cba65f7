#!/usr/bin/env bash
# Fills corpus/<target>/ with seeds from real audit logs and tracer logs:
# /work/shared/audit-samples (or $AUDIT_SAMPLES), tests/fixtures/** and the
# few committed seeds in seeds/<target>/. Run from anywhere; idempotent
# (files are named by content hash). `cargo xtask fuzz` runs it first.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
samples=${AUDIT_SAMPLES:-$root/../shared/audit-samples}
[ -d "$samples" ] || samples=/work/shared/audit-samples

put() { # target file-with-content
  local t=$1 f=$2 h
  h=$(sha1sum "$f" | cut -c1-40)
  mkdir -p "$here/corpus/$t"
  [ -e "$here/corpus/$t/$h" ] || cp "$f" "$here/corpus/$t/$h"
}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

audit_logs=()
[ -d "$samples" ] && while IFS= read -r -d '' f; do audit_logs+=("$f"); done \
  < <(find "$samples" -name '*.log' -type f -print0)
while IFS= read -r -d '' f; do audit_logs+=("$f"); done \
  < <(find "$root/tests/fixtures" -name '*.log' -type f -print0)

for f in "${audit_logs[@]}"; do
  # Whole files (at most 64 KiB) for the coalescer; single lines for the parser.
  head -c 65536 "$f" > "$tmp/c"; put coalescer "$tmp/c"
  n=0
  while IFS= read -r line && [ $n -lt 200 ]; do
    printf '%s\n' "$line" > "$tmp/l"; put audit_line "$tmp/l"; n=$((n + 1))
  done < "$f"
done

# tracer JSON logs: fixtures that are JSON lines, one file each (64 KiB max).
while IFS= read -r -d '' f; do
  if head -c 1 "$f" | grep -q '{'; then
    head -c 65536 "$f" > "$tmp/j"; put json_log "$tmp/j"
  fi
done < <(find "$root/tests/fixtures" \( -name '*.jsonl' -o -name '*.json' -o -name '*.log' \) -type f -print0)

# Committed seeds.
if [ -d "$here/seeds" ]; then
  for d in "$here"/seeds/*/; do
    t=$(basename "$d")
    for f in "$d"*; do [ -f "$f" ] && put "$t" "$f"; done
  done
fi
for t in audit_line coalescer json_log ringbuf_decode; do
  mkdir -p "$here/corpus/$t"
  printf '%s: %s seeds\n' "$t" "$(ls "$here/corpus/$t" | wc -l)"
done
