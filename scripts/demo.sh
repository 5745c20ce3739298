#!/usr/bin/env bash
# The embedded default, end to end: installs what is missing, builds vmkeeperd and vmkeeper,
# starts vmkeeperd with its state in ./vmkeeper-state (RocksDB store; hosts are libvirt's
# built-in test driver inside the daemon), applies examples/grid/ and shows the fleet.
# vmkeeperd keeps running afterwards for the tour in the README; stop it with
#   kill "$(cat vmkeeper-state/vmkeeperd.pid)"
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
BUILD_DIR=${BUILD_DIR:-build}
STATE=${STATE:-vmkeeper-state}
LISTEN=${LISTEN:-127.0.0.1:7480}
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$BUILD_DIR" --target vmkeeperd vmkeeper -j"$(nproc)"

mkdir -p "$STATE"
if [ -f "$STATE/vmkeeperd.pid" ] && kill -0 "$(cat "$STATE/vmkeeperd.pid")" 2>/dev/null; then
  echo "stopping the vmkeeperd of an earlier run (pid $(cat "$STATE/vmkeeperd.pid"))"
  kill "$(cat "$STATE/vmkeeperd.pid")"
  while kill -0 "$(cat "$STATE/vmkeeperd.pid")" 2>/dev/null; do sleep 0.1; done
fi
rm -f "$STATE/ready"
nohup "$BUILD_DIR/vmkeeperd" --store "$STATE/store" --embedded-host-dir "$STATE/embedded-hosts" \
  --listen "$LISTEN" --ready-file "$STATE/ready" >>"$STATE/vmkeeperd.log" 2>&1 &
echo $! > "$STATE/vmkeeperd.pid"
for _ in $(seq 1 300); do
  [ -s "$STATE/ready" ] && break
  kill -0 "$(cat "$STATE/vmkeeperd.pid")" 2>/dev/null || { echo "vmkeeperd exited; see $STATE/vmkeeperd.log" >&2; tail -5 "$STATE/vmkeeperd.log" >&2; exit 1; }
  sleep 0.1
done
[ -s "$STATE/ready" ] || { echo "vmkeeperd did not start listening; see $STATE/vmkeeperd.log" >&2; exit 1; }
export VMKEEPER_SERVER="http://$LISTEN"
VMK="$BUILD_DIR/vmkeeper"

echo "+ vmkeeper apply -f examples/grid --wait"
"$VMK" apply -f examples/grid --wait --timeout 120s
echo
echo "+ vmkeeper get hosts"
"$VMK" get hosts
echo
echo "+ vmkeeper get vms -o wide"
"$VMK" get vms -o wide
echo
echo "vmkeeperd is running (pid $(cat "$STATE/vmkeeperd.pid"), $VMKEEPER_SERVER, log $STATE/vmkeeperd.log)."
echo "Try: export VMKEEPER_SERVER=$VMKEEPER_SERVER; $VMK describe vm wms01"
echo "Stop it with: kill \$(cat $STATE/vmkeeperd.pid)"
