#!/usr/bin/env bash
# berth's main job end to end: berthd + the berth CLI. A network, a web container publishing
# 8080->80, reached from the host's 127.0.0.1:8080 and from another container (by address and by
# name through the embedded DNS), exec, logs, ps,
# then everything removed again.
#
# berthd's "host" here is a throwaway network namespace (like berth's tests), so nothing touches
# this machine's real network. Needs root; run scripts/setup.sh first.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=$PWD/.venv/bin
work=$(mktemp -d /tmp/berth-demo.XXXXXX)
host=berth-demo-$$
export BERTH_HOST=unix://$work/berth.sock
say() { printf '\033[1m==> %s\033[0m\n' "$*"; }
in_host() { nsenter --net="/run/netns/$host" -- "$@"; }

cleanup() {
  set +e
  if [ -S "$work/berth.sock" ]; then
    ids=$("$BIN/berth" ps -aq 2>/dev/null)
    [ -n "$ids" ] && "$BIN/berth" rm -f $ids >/dev/null 2>&1
    "$BIN/berth" network rm front >/dev/null 2>&1
  fi
  [ -n "${berthd_pid:-}" ] && kill "$berthd_pid" 2>/dev/null && wait "$berthd_pid" 2>/dev/null
  pkill -9 -f "berth.runtime.forkserver $work" 2>/dev/null
  for f in "$work"/run/netns/*; do [ -e "$f" ] && umount -l "$f" 2>/dev/null; done
  ip netns del "$host" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

say "a throwaway network namespace plays the host: $host"
ip netns add "$host"
ip -n "$host" link set lo up
echo '{}' > "$work/daemon.json"

say "start berthd (socket $work/berth.sock)"
# nsenter execs berthd in place, so $! is berthd itself
nsenter --net="/run/netns/$host" -- "$BIN/berthd" -H "unix://$work/berth.sock" --data-root "$work/data" \
  --exec-root "$work/run" --pidfile "$work/berthd.pid" --config-file "$work/daemon.json" \
  > "$work/berthd.log" 2>&1 &
berthd_pid=$!
for _ in $(seq 100); do "$BIN/berth" version >/dev/null 2>&1 && break; sleep 0.1; done
"$BIN/berth" version --format 'berthd {{.Server.Version}}, API {{.Server.APIVersion}}'
"$BIN/berth" network ls

say "berth network create front --subnet 10.77.0.0/24"
"$BIN/berth" network create front --subnet 10.77.0.0/24 >/dev/null

SERVER='import socket
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 80)); s.listen(8); print("web: listening on :80", flush=True)
while True:
    c, a = s.accept(); c.sendall(f"hello from web, you are {a[0]}\n".encode()); c.close()'
CLIENT='import socket, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=3)
print(s.recv(200).decode().strip())'

say "berth run -d --name web --network front -p 8080:80 ... (a tiny TCP server)"
"$BIN/berth" run -d --name web --hostname web --network front -p 8080:80 demo \
  python3 -c "$SERVER" | cut -c1-12
for _ in $(seq 50); do "$BIN/berth" logs web 2>/dev/null | grep -q listening && break; sleep 0.1; done
"$BIN/berth" ps
web_ip=$("$BIN/berth" inspect -f '{{.NetworkSettings.Networks.front.IPAddress}}' web)

say "from the host: 127.0.0.1:8080 (kernel DNAT, no userland proxy)"
in_host python3 -c "$CLIENT" 127.0.0.1 8080

say "from another container on 'front': $web_ip:80"
"$BIN/berth" run --rm --network front demo python3 -c "$CLIENT" "$web_ip" 80

say "and by name: web:80 (berthd's embedded DNS at 127.0.0.11 in every sandbox on 'front')"
"$BIN/berth" run --rm --name client --network front demo python3 -c "$CLIENT" web 80

say "berth exec web hostname; berth logs web"
"$BIN/berth" exec web hostname
"$BIN/berth" logs web

say "berth network inspect front"
"$BIN/berth" network inspect front \
  -f '{{.Name}} {{range .IPAM.Config}}{{.Subnet}} via {{.Gateway}}{{end}}, containers: {{len .Containers}}'

say "berth rm -f web; berth network rm front"
"$BIN/berth" rm -f web >/dev/null
"$BIN/berth" network rm front >/dev/null
say "done: berth's map of published ports is empty again:"
in_host nft list map inet berth pub4any | sed -n '/map/,/}/p' 
