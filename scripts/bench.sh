#!/usr/bin/env bash
# bench.sh prints every performance figure of the agent next to its target
# (issue 17); `make bench` runs it. Wall times on a shared machine are noisy:
# each is the min and median of several runs (hyperfine), and the
# instruction counts (callgrind, when valgrind is installed) are the figures
# that do not move with the load.
#
#   BENCH_RUNS=20            hyperfine runs per command (the Ansible peer: 5)
#   BENCH_DATA=1024          MiB backed up and restored for memory and restore
#   BENCH_PEER=DIR           the Ansible peer (default ../shared/bench/ansible-peer)
#   BENCH_SKIP="go restore"  skip parts: startup, go, restore
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=${BIN:-bin/homelab-agent}
RUNS=${BENCH_RUNS:-20}
DATA_MIB=${BENCH_DATA:-1024}
PEER=${BENCH_PEER:-../shared/bench/ansible-peer}
SKIP=${BENCH_SKIP:-}
BASELINE=scripts/bench-baseline
GO=${GO:-go}

work=$(mktemp -d /tmp/homelab-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT

have() { command -v "$1" >/dev/null 2>&1; }
skipped() { [[ " $SKIP " == *" $1 "* ]]; }
# row WHAT MEASURED TARGET [VERDICT]
row() { printf '%-44s %-46s %-18s %s\n' "$1" "$2" "$3" "${4:-}"; }
verdict() { if python3 -c "import sys; sys.exit(0 if $1 else 1)"; then echo ok; else echo MISSED; fi; }

# hyper NAME RUNS CMD: min and median (ms) of CMD's wall time -> $work/NAME.json
hyper() {
  local name=$1 runs=$2; shift 2
  hyperfine -N -w 2 -r "$runs" --export-json "$work/$name.json" "$@" >/dev/null 2>&1
}
stat_ms() { # FILE FIELD(min|median|mean|user|system)
  python3 - "$1" "$2" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))["results"][0]
print("%.1f" % (1000 * r[sys.argv[2]]))
EOF
}
# instructions CMD...: instructions retired (callgrind), in millions
instructions() {
  GODEBUG=asyncpreemptoff=1 valgrind --tool=callgrind --callgrind-out-file=/dev/null "$@" 2>&1 >/dev/null |
    awk '/refs:/ {gsub(",", "", $NF); printf "%.1f", $NF / 1e6}'
}

echo "homelab-agent benchmarks ($(git describe --always --dirty 2>/dev/null), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg))"
row "what" "measured" "target" ""
row "----" "--------" "------" ""

# --- binary size -----------------------------------------------------------
size=$(stat -c %s "$BIN")
base=$(sed -n 's/^binary_bytes=//p' "$BASELINE")
growth=$(python3 -c "print('%+.1f' % (100 * ($size - $base) / $base))")
row "binary size" "$(python3 -c "print('%.1f MiB' % ($size / 2**20))") (${growth} % vs $(python3 -c "print('%.1f' % ($base / 2**20))") MiB)" "<= +10 %" "$(verdict "$size <= 1.10 * $base")"

# --- start-up and the no-op pass, whole process ----------------------------
if ! skipped startup; then
  have hyperfine || { echo "bench: hyperfine is missing (make bench-deps)" >&2; exit 1; }
  root=$work/agent-root
  "$BIN" apply --host dns1 --repo fixtures/lab --root "$root" --only files >/dev/null
  apply=("$BIN" apply --host dns1 --repo fixtures/lab --root "$root" --only files)
  hyper version "$RUNS" "$BIN version"
  hyper validate "$RUNS" "$BIN validate --repo fixtures/lab"
  hyper apply "$RUNS" "${apply[*]}"
  for n in version validate apply; do
    eval "${n}_min=$(stat_ms "$work/$n.json" min) ${n}_med=$(stat_ms "$work/$n.json" median)"
  done
  row "version, wall min / median" "$version_min / $version_med ms" "<= 5 ms" "$(verdict "$version_med <= 5")"
  row "validate of fixtures/lab, wall" "$validate_min / $validate_med ms" "<= 30 ms" "$(verdict "$validate_med <= 30")"
  row "no-op apply dns1 --only files, wall" "$apply_min / $apply_med ms" "<= 10 ms" "$(verdict "$apply_med <= 10")"
  if [ -d "$PEER" ] && have ansible-playbook; then
    export PEER_ROOT=$work/peer-root
    mkdir -p "$PEER_ROOT"
    ansible-playbook -i localhost, "$PEER/playbook.yml" >/dev/null 2>&1
    hyper peer 5 "ansible-playbook -i localhost, $PEER/playbook.yml"
    peer_min=$(stat_ms "$work/peer.json" min) peer_med=$(stat_ms "$work/peer.json" median)
    row "Ansible peer, same files, wall" "$peer_min / $peer_med ms" "" ""
    # The ratio of the minimums: each side's cost with the least
    # interference from other jobs (medians shown beside it).
    row "  agent vs Ansible, minimums (medians)" "$(python3 -c "print('%.0fx (%.0fx) faster' % ($peer_min / $apply_min, $peer_med / $apply_med))")" ">= 300x" "$(verdict "$peer_min >= 300 * $apply_min")"
  else
    row "Ansible peer" "not run: no $PEER or no ansible-playbook" "" ""
  fi
  if have /usr/bin/time; then
    rss=$( { /usr/bin/time -f %M "${apply[@]}" >/dev/null; } 2>&1 | tail -1)
    row "  peak RSS of that apply" "$(python3 -c "print('%.1f MiB' % ($rss / 1024))")" "" ""
  fi
  if have valgrind; then
    row "version, instructions (callgrind)" "$(instructions "$BIN" version) M" "" ""
    row "no-op apply, instructions (callgrind)" "$(instructions "${apply[@]}") M" "" ""
    row "validate, instructions (callgrind)" "$(instructions "$BIN" validate --repo fixtures/lab) M" "" ""
  fi
fi

# --- Go benchmarks: polls, push to applied, in-process pass, idle RSS -----
# gobench PKG PATTERN COUNT: the benchmark lines of go test -bench.
gobench() { $GO test -run '^$' -bench "$2" -benchmem -count "$3" "$1" 2>&1 | grep -E '^Benchmark' || true; }
# minmed FILE NAME UNIT: min / median of UNIT over NAME's lines
minmed() {
  python3 - "$@" <<'EOF'
import re, statistics, sys
f, name, unit = sys.argv[1:]
vals = []
for line in open(f):
    if not line.startswith(name):
        continue
    m = re.search(r"([0-9.]+) " + re.escape(unit), line)
    if m:
        vals.append(float(m.group(1)))
if not vals:
    print("none|1e99")
elif unit == "ns/op":
    print("%.1f / %.1f ms|%f" % (min(vals) / 1e6, statistics.median(vals) / 1e6, statistics.median(vals) / 1e6))
else:
    print("%.1f / %.1f %s|%f" % (min(vals), statistics.median(vals), unit, statistics.median(vals)))
EOF
}
# gorow WHAT FILE NAME UNIT TARGET MAX: a row for a Go benchmark; MAX is
# the median's limit ("" for none).
gorow() {
  local r; r=$(minmed "$2" "$3" "$4")
  row "$1" "${r%|*}" "$5" "$( [ -n "$6" ] && verdict "${r#*|} <= $6")"
}
if ! skipped go; then
  gobench ./agent/gitsync/ 'PollNoChange' 5 >"$work/poll.txt"
  gorow "no-change poll, SSH, min / median" "$work/poll.txt" BenchmarkPollNoChange/ssh ns/op "<= 10 ms" 10
  gorow "no-change poll, HTTPS (kept-alive TLS)" "$work/poll.txt" BenchmarkPollNoChangeHTTPS ns/op "<= 10 ms" 10
  gorow "no-change poll, HTTP" "$work/poll.txt" BenchmarkPollNoChange/http ns/op "<= 10 ms" 10
  gorow "no-change poll, local path" "$work/poll.txt" BenchmarkPollNoChange/local ns/op "" ""
  gobench ./agent/daemon/ 'WebhookPushToApplied' 3 >"$work/hook.txt"
  gorow "push to applied by webhook (Go), p50" "$work/hook.txt" BenchmarkWebhookPushToApplied p50-ms "<= 500 ms" 500
  gobench ./agent/images/ 'UpdateCheck10NoNews' 5 >"$work/images.txt"
  gorow "image update check, 10 images, no news" "$work/images.txt" BenchmarkUpdateCheck10NoNews ns/op "< 100 ms" 100
  gorow "  blobs transferred by that check" "$work/images.txt" BenchmarkUpdateCheck10NoNews blobs/op "0" 0
  gobench ./agent/ 'ApplyNoop' 3 >"$work/noop.txt"
  gorow "no-op pass of dns1 in process" "$work/noop.txt" BenchmarkApplyNoop ns/op "" ""
  idle=$($GO test -count=1 -run 'TestRunIdleRSS$' -v ./cmd/homelab-agent/ 2>&1 | sed -n 's/.*idle RSS of run: \([0-9.]*\) MB.*/\1/p')
  row "idle RSS of run" "${idle:-?} MB" "<= 20 MB" "$( [ -n "$idle" ] && verdict "$idle <= 20")"
fi

# --- memory while backing up and restoring, restore overhead --------------
if ! skipped restore; then
  ./scripts/bench-restore.sh "$BIN" "$DATA_MIB" "$work/restore" | while IFS='|' read -r what measured target ok; do
    row "$what" "$measured" "$target" "$ok"
  done
fi
