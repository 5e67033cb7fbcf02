#!/usr/bin/env bash
# mutate.sh runs mutation testing (github.com/go-gremlins/gremlins) over the
# core packages and prints the efficacy of each: the share of mutants the
# tests kill. Slow (every mutant runs its package's tests), so not in CI;
# `make mutate` runs it and the README quotes the figures.
#
# Packages in MUTATE_SPLIT (default agent/backup, whose suite runs real
# restic, S3 and PostgreSQL for about three minutes) take gremlins' list of
# mutants, and internal/mutlines runs each with only the tests that execute
# its line (per-test coverage, measured first). A test that never runs a
# line cannot notice a mutant on it, so the figure is the whole suite's, at
# a fraction of the time (each mutant still builds the test binary).
# MUTATE_FILES limits a split package to some files (space-separated base
# names); MUTATE_BUDGET (e.g. 80m) stops starting mutants after that long
# and reports a shuffled sample. Verdicts: $out/<package>/results.txt,
# lived first.
set -euo pipefail
cd "$(dirname "$0")/.."
gobin=$(go env GOPATH)/bin
if ! [ -x "$gobin/gremlins" ]; then
  GOFLAGS= go install github.com/go-gremlins/gremlins/cmd/gremlins@v0.6.0
fi
pkgs=${MUTATE_PKGS:-"agent/files agent/lab agent/secrets agent/gitsync agent/backup agent/firewall"}
split=" ${MUTATE_SPLIT-agent/backup} "
out=${MUTATE_OUT:-mutate-results}
mkdir -p "$out"

# unleash runs gremlins on ./$1 with the extra arguments, logging to $2.log
# and $2.json, and prints "killed lived notcovered timedout".
unleash() {
  local p=$1 base=$2
  shift 2
  "$gobin/gremlins" unleash --workers "${MUTATE_WORKERS:-1}" --timeout-coefficient "${MUTATE_TIMEOUT:-3}" \
      -E '^testdata/' -E '^[a-z]+test/' -o "$base.json" "$@" "./$p" >"$base.txt" 2>&1 || true
  local sum
  sum=$(grep -E '^Killed: [0-9]+, Lived: [0-9]+, Not covered: [0-9]+' "$base.txt" | tail -1)
  if [ -z "$sum" ]; then
    echo "0 0 0 0"
    return
  fi
  sed -E 's/^Killed: ([0-9]+), Lived: ([0-9]+), Not covered: ([0-9]+).*/\1 \2 \3/' <<<"$sum" | tr -d '\n'
  echo " $(grep -oE 'Timed out: [0-9]+' "$base.txt" | tail -1 | awk '{print $3}' || true)" | sed 's/ $/ 0/'
}

efficacy() { # killed lived
  if [ $(( $1 + $2 )) -eq 0 ]; then echo "-"; else awk -v k="$1" -v l="$2" 'BEGIN{printf "%.2f%%", 100*k/(k+l)}'; fi
}

printf '%-22s %8s %8s %8s %9s %10s %s\n' package killed lived "not cov" "timed out" efficacy time
for p in $pkgs; do
  start=$(date +%s)
  name=$(echo "$p" | tr / -)
  if [[ "$split" != *" $p "* ]]; then
    read -r killed lived notcov timedout < <(unleash "$p" "$out/$name")
    printf '%-22s %8s %8s %8s %9s %10s %ss\n' "$p" "$killed" "$lived" "$notcov" "$timedout" \
      "$(efficacy "$killed" "$lived")" "$(( $(date +%s) - start ))"
    continue
  fi

  # Per-test coverage and duration: which tests run which lines.
  tmp=$(mktemp -d)
  go test -c -cover -covermode=set -o "$tmp/pkg.test" "./$p"
  mkdir -p "$tmp/cov"
  for t in $(cd "$p" && "$tmp/pkg.test" -test.list '.*' | grep -E '^(Test|Fuzz|Example)'); do
    s=$(date +%s%N)
    (cd "$p" && "$tmp/pkg.test" -test.run "^$t\$" -test.coverprofile="$tmp/cov/$t.out" >/dev/null 2>&1) || true
    echo "$t $(( ($(date +%s%N) - s) / 1000000 ))e-3" >>"$tmp/times"
  done
  # gremlins lists the mutants (no coverage run: -run=^$), internal/mutlines
  # runs each with the tests that execute its line.
  GOFLAGS='-run=^$' "$gobin/gremlins" unleash --dry-run -E '^testdata/' -E '^[a-z]+test/' -o "$tmp/dry.json" "./$p" >/dev/null 2>&1
  go build -o "$tmp/mutlines" ./internal/mutlines
  "$tmp/mutlines" -pkg "$p" -dry "$tmp/dry.json" -cov "$tmp/cov" -times "$tmp/times" -out "$out/$name" \
      -files "${MUTATE_FILES:-}" -timeout-coefficient "${MUTATE_TIMEOUT:-3}" -budget "${MUTATE_BUDGET:-0}" >"$out/$name.txt" 2>&1 || true
  rm -rf "$tmp"
  killed=$(grep -oE '^Killed: [0-9]+' "$out/$name.txt" | awk '{print $2}')
  lived=$(grep -oE 'Lived: [0-9]+' "$out/$name.txt" | awk '{print $2}')
  notcov=$(grep -oE 'Not covered: [0-9]+' "$out/$name.txt" | awk '{print $3}')
  timedout=$(grep -oE 'Timed out: [0-9]+' "$out/$name.txt" | awk '{print $3}')
  printf '%-22s %8s %8s %8s %9s %10s %ss\n' "$p" "${killed:-?}" "${lived:-?}" "${notcov:-?}" "${timedout:-?}" \
    "$(efficacy "${killed:-0}" "${lived:-0}")" "$(( $(date +%s) - start ))"
done
echo "details (each mutant, LIVED ones first to read): $out/"
