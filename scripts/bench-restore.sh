#!/usr/bin/env bash
# bench-restore.sh BIN MIB DIR: backs up MIB MiB of mixed files (half 16 KiB
# files, half 64 MiB files, incompressible) with `homelab-agent backup`,
# restores them with `homelab-agent restore`, and restores the same
# snapshot with plain `restic restore`; prints "what|measured|target|ok"
# lines for bench.sh. The peaks are each process's own VmHWM, sampled every
# 20 ms from /proc: the agent's, and restic's (its child) beside it. The
# repository is a local folder, so no S3 server shares the measurement.
set -euo pipefail
BIN=$(realpath "$1") MIB=$2 W=$3
mkdir -p "$W"
W=$(realpath "$W")
RESTIC=$(command -v restic || echo "$(go env GOPATH)/bin/restic")
export PATH=$(dirname "$RESTIC"):$PATH
export HOMELAB_SECRET_RESTIC_PASSWORD=bench-password

mkdir -p "$W/lab" "$W/root/srv/data/traefik"
cat >"$W/lab/homelab.yaml" <<EOF
domain: home.example
network: {cidr: 192.168.100.0/24, gateway: 192.168.100.1}
proxy: {acme_email: admin@home.example}
backup: {repository: $W/repo, init: true}
hosts:
  proxy: {ip: 192.168.100.3, role: traefik}
EOF
python3 - "$W/root/srv/data/traefik" "$MIB" <<'EOF'
import os, sys
d, mib = sys.argv[1], int(sys.argv[2])
half = mib * 2**20 // 2
rnd = os.urandom(64 << 20)
for i in range(half // (16 << 10)):
    sub = os.path.join(d, "small", "%03d" % (i // 500))
    os.makedirs(sub, exist_ok=True)
    off = (i * 16411) % ((64 << 20) - (16 << 10))
    open(os.path.join(sub, "%05d" % i), "wb").write(rnd[off:off + (16 << 10)])
os.makedirs(os.path.join(d, "large"), exist_ok=True)
for i in range(max(1, half // (64 << 20))):
    rnd = os.urandom(64 << 20)
    open(os.path.join(d, "large", "%02d.bin" % i), "wb").write(rnd)
EOF

# peaks CMD...: runs CMD, writes "wall_s agent_kib child_kib restore_s" to
# $W/peaks; restore_s is how long a `restic restore` child was seen.
peaks() {
  local start end pid agent=0 child=0 v c rs_start="" rs_end=""
  start=$(date +%s.%N)
  "$@" >"$W/out.txt" 2>&1 &
  pid=$!
  while kill -0 "$pid" 2>/dev/null; do
    v=$(awk '/^VmHWM:/ {print $2}' "/proc/$pid/status" 2>/dev/null || true)
    [ -n "$v" ] && [ "$v" -gt "$agent" ] && agent=$v
    for c in $(pgrep -P "$pid" 2>/dev/null); do
      v=$(awk '/^VmHWM:/ {print $2}' "/proc/$c/status" 2>/dev/null || true)
      [ -n "$v" ] && [ "$v" -gt "$child" ] && child=$v
      if { tr '\0' ' ' <"/proc/$c/cmdline"; } 2>/dev/null | grep -q ' restore '; then
        rs_end=$(date +%s.%N)
        [ -n "$rs_start" ] || rs_start=$rs_end
      fi
    done
    sleep 0.02
  done
  wait "$pid" || { cat "$W/out.txt" >&2; return 1; }
  end=$(date +%s.%N)
  echo "$(python3 -c "print($end - $start)") $agent $child $(python3 -c "print(${rs_end:-0} - ${rs_start:-0})")" >"$W/peaks"
}
mib() { python3 -c "print('%.1f' % ($1 / 1024))"; }

common=(--host proxy --repo "$W/lab" --root "$W/root")
peaks "$BIN" backup "${common[@]}"
read -r b_wall b_agent b_restic _ <"$W/peaks"

# Restores alternate between the agent and restic alone (the same
# snapshot, the agent's flags), PAIRS times, so that neither gets the
# warmer page cache or the quieter minute; the figures are each side's
# minimum and median.
export RESTIC_REPOSITORY=$W/repo RESTIC_PASSWORD=bench-password RESTIC_CACHE_DIR=$W/root/var/cache/restic
r_agent=0 r_restic=0 agent_walls=() plain_walls=() added=()
for _ in $(seq "${PAIRS:-3}"); do
  peaks "$RESTIC" restore latest --target "$W/plain" --verify --json
  read -r wall _ _ <"$W/peaks"
  plain_walls+=("$wall")
  rm -rf "$W/plain"
  peaks "$BIN" restore "${common[@]}" --service traefik --yes
  read -r wall agent child inner <"$W/peaks"
  agent_walls+=("$wall")
  added+=("$(python3 -c "print($wall - $inner)")")
  r_agent=$(( agent > r_agent ? agent : r_agent )) r_restic=$(( child > r_restic ? child : r_restic ))
  rm -rf "$W"/root/srv/data/traefik.pre-restore-*
done
agent_peak=$(( b_agent > r_agent ? b_agent : r_agent ))
echo "agent peak RSS, backup + restore ${MIB} MiB|$(mib "$agent_peak") MiB (backup $(mib "$b_agent"), restore $(mib "$r_agent"))|<= 60 MiB|$(python3 -c "print('ok' if $agent_peak <= 60 * 1024 else 'MISSED')")"
echo "  restic's own peak beside it|backup $(mib "$b_restic") MiB, restore $(mib "$r_restic") MiB||"
python3 - "${MIB}" "${agent_walls[*]}" "${plain_walls[*]}" "${added[*]}" <<'EOF'
import statistics, sys
mib = sys.argv[1]
a, p, x = ([float(v) for v in arg.split()] for arg in sys.argv[2:5])
print("restore %s MiB, agent: min / median|%.2f / %.2f s (%d runs)||" % (mib, min(a), statistics.median(a), len(a)))
print("restore %s MiB, restic alone: min / median|%.2f / %.2f s||" % (mib, min(p), statistics.median(p)))
# What the agent adds: its wall time minus its own restic restore child's
# (the same command as restic alone), against restic alone's median. The
# two sides' wall times differ by more than that with the load.
add = statistics.median(x)
over = 100 * add / statistics.median(p)
print("  agent adds around its restic restore|%.2f s (median), %.1f %% of restic alone|< 1 %%|%s" % (add, over, "ok" if over < 1 else "MISSED"))
EOF

# What the agent's restore runs besides restic restore: restic snapshots
# (the plan: which snapshot, its dumps), one more repository open.
peaks "$RESTIC" snapshots --json
read -r s_wall _ _ <"$W/peaks"
echo "  of which restic snapshots (the plan)|$(printf '%.2f s' "$s_wall")||"
echo "backup ${MIB} MiB, wall|$(printf '%.2f s' "$b_wall")||"
