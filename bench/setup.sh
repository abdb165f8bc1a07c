#!/usr/bin/env bash
# Installs what the benchmark suite compares berth with (as root, Debian 12): Debian's docker.io
# (dockerd 20.10, containerd, runc, docker-proxy), containernetworking-plugins (/usr/lib/cni), wrk,
# iperf3 and busybox-static (the one binary of the locally imported busybox image), plus berth's
# Python dependencies with the `bench` extra (matplotlib, py-spy). Idempotent.
#
# Installing docker.io must not start a system dockerd or containerd: a policy-rc.d returning 101
# ("action forbidden") is in place for the install and the previous one (if any) restored after.
# The suite itself runs every daemon inside a throwaway network namespace (bench/lab.py).
set -euo pipefail
cd "$(dirname "$0")/.."

[ "$(id -u)" -eq 0 ] || { echo "bench/setup.sh: run as root" >&2; exit 1; }

bash scripts/setup.sh

APT_PACKAGES=(docker.io containerd runc tini containernetworking-plugins wrk iperf3 busybox-static
  iptables procps)
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "bench/setup.sh: installing ${missing[*]}"
  POLICY=/usr/sbin/policy-rc.d
  BACKUP=""
  if [ -e "$POLICY" ]; then
    BACKUP=$(mktemp /tmp/bbpolicy.XXXXXX)
    cp -p "$POLICY" "$BACKUP"
  fi
  restore_policy() {
    if [ -n "$BACKUP" ]; then mv -f "$BACKUP" "$POLICY"; else rm -f "$POLICY"; fi
  }
  trap restore_policy EXIT
  printf '#!/bin/sh\n# bench/setup.sh: start no service while installing\nexit 101\n' >"$POLICY"
  chmod 755 "$POLICY"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
  restore_policy
  trap - EXIT
fi

# Nothing may have started a machine-wide daemon (the suite never uses one: it would share state).
for daemon in dockerd containerd; do
  for pid in $(pgrep -x "$daemon" || true); do
    if ! tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- '/tmp/bb'; then
      echo "bench/setup.sh: warning: a system $daemon is running (pid $pid); the suite ignores it" >&2
    fi
  done
done

UV=.tools/bin/uv
[ -x "$UV" ] || UV=$(command -v uv)
UV_PYTHON_DOWNLOADS=never "$UV" sync -q --frozen --compile-bytecode --extra test --extra bench
echo "bench/setup.sh: ready ($(dockerd --version), wrk $(dpkg-query -W -f='${Version}' wrk)," \
  "$(iperf3 --version | head -1 | cut -d' ' -f1-2), CNI $(ls /usr/lib/cni | wc -l) plugins)"
