#!/usr/bin/env bash
# test-deps.sh installs what the test suite needs and is idempotent:
# BIND 9.20 (bookworm-backports on Debian 12), iproute2, nftables, iptables,
# openssh, git and gnupg, util-linux and e2fsprogs, systemd-analyze, the Docker
# Engine, debootstrap (the e2e drill's guest image and the test databases),
# busybox-static (the stand-in image's shell), and
# restic through `go install`. Run as root to install Debian packages;
# without root it only reports what is missing.
set -euo pipefail

need_pkgs=()
have() { command -v "$1" >/dev/null 2>&1; }

bind_ok() {
  have named-checkconf || return 1
  # BIND 9.18 cannot forward over TLS; the dns role needs 9.20 or newer.
  local v
  v=$(named -v 2>/dev/null | sed -n 's/^BIND 9\.\([0-9]*\).*/\1/p')
  [ -n "$v" ] && [ "$v" -ge 20 ]
}

. /etc/os-release 2>/dev/null || true
if ! bind_ok; then need_pkgs+=(bind9 bind9-utils bind9-dnsutils); fi
have ip || need_pkgs+=(iproute2)
have nft || need_pkgs+=(nftables)
# The firewall tests write Docker's published-port rules with iptables
# (nf_tables backend) and probe a git http-backend.
have iptables || need_pkgs+=(iptables)
# agent/state checks with strace that state.json's folder is fsynced after the rename.
have strace || need_pkgs+=(strace)
have sshd || [ -x /usr/sbin/sshd ] || need_pkgs+=(openssh-server)
have ssh-keygen || need_pkgs+=(openssh-client)
# The daemon's tests: git http-backend and git-shell, and gpg for signed commits.
have git || need_pkgs+=(git)
have gpg || need_pkgs+=(gnupg)
# The secrets tests open the encrypted files with the plain age CLI (no lock-in).
have age && have age-keygen || need_pkgs+=(age)
have systemd-analyze || need_pkgs+=(systemd)  # `systemd-analyze verify` of the unit
# bootstrap's first-boot script is tested on a disk image: blkid, mkfs.ext4, debugfs.
have blkid || [ -x /usr/sbin/blkid ] || need_pkgs+=(util-linux)
have debugfs || [ -x /usr/sbin/debugfs ] || need_pkgs+=(e2fsprogs)
# The e2e drill builds its guest image (Debian trixie) with debootstrap.
have debootstrap || [ -x /usr/sbin/debootstrap ] || need_pkgs+=(debootstrap)
# The container tests' stand-in image carries a static busybox as its shell.
[ -x /bin/busybox ] || need_pkgs+=(busybox-static)
# The container tests need a Docker Engine (any version with API 1.41+).
have dockerd || [ -S /var/run/docker.sock ] || need_pkgs+=(docker.io)

if [ ${#need_pkgs[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "test-deps: missing Debian packages (run as root to install): ${need_pkgs[*]}" >&2
  else
    export DEBIAN_FRONTEND=noninteractive
    target=()
    if [ "${VERSION_CODENAME:-}" = bookworm ]; then
      if ! grep -rqs bookworm-backports /etc/apt/sources.list /etc/apt/sources.list.d/; then
        echo "deb http://deb.debian.org/debian bookworm-backports main" \
          >/etc/apt/sources.list.d/bookworm-backports.list
      fi
      target=(-t bookworm-backports)
    fi
    apt-get update -qq
    # BIND from backports on bookworm; the rest from the main suite.
    bind=(); other=()
    for p in "${need_pkgs[@]}"; do
      case $p in bind9*) bind+=("$p");; *) other+=("$p");; esac
    done
    [ ${#other[@]} -gt 0 ] && apt-get install -y -qq --no-install-recommends "${other[@]}"
    [ ${#bind[@]} -gt 0 ] && apt-get install -y -qq --no-install-recommends "${target[@]}" "${bind[@]}"
    # The test suite runs named itself; a packaged service must not hold port 53.
    if have systemctl; then systemctl disable --now named >/dev/null 2>&1 || true; fi
  fi
fi

gobin=$(go env GOPATH)/bin
if ! [ -x "$gobin/restic" ] && ! have restic; then
  echo "test-deps: installing restic 0.18.1 with go install" >&2
  GOFLAGS= go install github.com/restic/restic/cmd/restic@v0.18.1
fi
