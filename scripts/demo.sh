#!/usr/bin/env bash
# demo.sh BIN LAB OUT: validate the lab, then for every host show the plan,
# apply it into OUT/<host> (a stand-in root), and apply again to show that
# the second pass changes nothing. Secrets are demo stand-ins. Containers
# are left out (--only): they would run on this machine's Docker Engine
# and pull the real images; docs/containers.md shows a container plan.
set -euo pipefail
bin=$1 lab=$2 out=$3
export HOMELAB_SECRET_CF_DNS_API_TOKEN=demo-cloudflare-token
export HOMELAB_SECRET_NEXTCLOUD_ADMIN_PASSWORD=demo-admin-password
export HOMELAB_SECRET_NEXTCLOUD_DB_PASSWORD=demo-db-password
export HOMELAB_SECRET_IMMICH_DB_PASSWORD=demo-immich-password
export HOMELAB_SECRET_TAILSCALE_AUTHKEY=tskey-demo

only=--only=files,firewall,backup
rm -rf "$out"
echo "== validate"
"$bin" validate --repo "$lab"
hosts=$("$bin" validate --repo "$lab" | awk 'NF > 3 && $1 != "homelab.yaml:" {print $1}')
for h in $hosts; do
  echo
  echo "== plan --host $h (root $out/$h)"
  "$bin" plan --host "$h" --repo "$lab" --root "$out/$h" $only
  "$bin" apply --host "$h" --repo "$lab" --root "$out/$h" $only >/dev/null
  echo "== apply again: $("$bin" apply --host "$h" --repo "$lab" --root "$out/$h" $only)"
done
if command -v named-checkconf >/dev/null; then
  mkdir -p "$out/dns1/var/cache/bind"
  echo
  echo "== named-checkconf -z on the dns host's tree"
  named-checkconf -z -t "$out/dns1" /etc/bind/named.conf
fi
echo
echo "Every host's files are under $out/<host>/."
