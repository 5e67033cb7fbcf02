#!/usr/bin/env bash
# mutate.sh runs mutation testing (github.com/go-gremlins/gremlins) over the
# core packages and prints the efficacy of each: the share of mutants the
# tests kill. Slow (every mutant runs its package's tests), so not in CI;
# `make mutate` runs it and the README quotes the figures.
#
# Packages in MUTATE_SPLIT (default agent/backup, whose suite runs real
# restic and Postgres for about two minutes) are mutated one source file at
# a time, and each file's mutants run only the tests that execute that file
# (per-test coverage, measured first). A test that never runs a file's code
# cannot notice a mutant in it, so the figure is the whole suite's, at a
# fraction of the time. MUTATE_FILES limits a split package to some files
# (space-separated base names).
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

  # Per-test coverage: which tests run which files.
  tmp=$(mktemp -d)
  go test -c -cover -covermode=set -o "$tmp/pkg.test" "./$p"
  mkdir -p "$tmp/cov"
  for t in $(cd "$p" && "$tmp/pkg.test" -test.list '.*' | grep -E '^(Test|Fuzz|Example)'); do
    (cd "$p" && "$tmp/pkg.test" -test.run "^$t\$" -test.coverprofile="$tmp/cov/$t.out" >/dev/null 2>&1) || true
  done
  files=${MUTATE_FILES:-$(cd "$p" && ls *.go | grep -v '_test\.go$')}
  tk=0 tl=0 tn=0 tt=0
  for f in $files; do
    tests=$(grep -l -E "/$p/$f:[0-9.,]+ [0-9]+ 1\$" "$tmp"/cov/*.out 2>/dev/null | xargs -r -n1 basename | sed 's/\.out$//' | paste -sd'|' || true)
    fstart=$(date +%s)
    excl=()
    for g in $(cd "$p" && ls *.go | grep -v '_test\.go$'); do
      [ "$g" = "$f" ] || excl+=(-E "^$(sed 's/\./\\./g' <<<"$g")\$")
    done
    if [ -z "$tests" ]; then
      # No test runs the file: every mutant in it is not covered.
      read -r killed lived notcov timedout < <(GOFLAGS="-run=^$" unleash "$p" "$out/$name-${f%.go}" "${excl[@]}")
    else
      read -r killed lived notcov timedout < <(GOFLAGS="-run=^($tests)\$" unleash "$p" "$out/$name-${f%.go}" "${excl[@]}")
    fi
    printf '  %-20s %8s %8s %8s %9s %10s %ss\n' "$f" "$killed" "$lived" "$notcov" "$timedout" \
      "$(efficacy "$killed" "$lived")" "$(( $(date +%s) - fstart ))"
    tk=$((tk + killed)) tl=$((tl + lived)) tn=$((tn + notcov)) tt=$((tt + timedout))
  done
  rm -rf "$tmp"
  printf '%-22s %8s %8s %8s %9s %10s %ss\n' "$p" "$tk" "$tl" "$tn" "$tt" "$(efficacy "$tk" "$tl")" "$(( $(date +%s) - start ))"
done
echo "details (each mutant, LIVED ones first to read): $out/"
