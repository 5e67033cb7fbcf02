#!/usr/bin/env bash
# bench-deps.sh installs what `make bench` needs beyond the tests' tools:
# hyperfine (wall times), ansible-core (the peer in ../shared/bench),
# valgrind (instruction counts), GNU time (peak RSS) and python3; restic
# comes from test-deps.sh. Idempotent; without root it only reports.
set -euo pipefail
have() { command -v "$1" >/dev/null 2>&1; }
need=()
have hyperfine || need+=(hyperfine)
have ansible-playbook || need+=(ansible-core)
have valgrind || need+=(valgrind)
[ -x /usr/bin/time ] || need+=(time)
have python3 || need+=(python3)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "bench-deps: missing Debian packages (run as root to install): ${need[*]}" >&2
  else
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${need[@]}"
  fi
fi
