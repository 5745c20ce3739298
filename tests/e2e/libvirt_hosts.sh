#!/usr/bin/env bash
# Killable hypervisor "hosts" for end-to-end tests: one root libvirtd per host, each in its own
# mount and PID namespace with private /run/libvirt, /var/lib/libvirt, /etc/libvirt,
# /var/log/libvirt and /var/cache/libvirt. Hosts outlive the vmkeeperd under test, so a killed
# controller finds its domains again when it restarts.
#
#   libvirt_hosts.sh start N     start host N; prints nothing on success
#   libvirt_hosts.sh uri N       the test-driver URI of host N (test+unix:///default?socket=...)
#   libvirt_hosts.sh qemu-uri N  the QEMU-driver URI of host N (qemu+unix:///system?socket=...):
#                                the same libvirtd serves both; QEMU guests it starts live in the
#                                host's PID namespace, so `kill N` kills them with it
#   libvirt_hosts.sh kill N      SIGKILL the host's namespace (libvirtd and all it started)
#   libvirt_hosts.sh stop N      SIGSTOP the host's libvirtd: it hangs (a management partition)
#   libvirt_hosts.sh cont N      SIGCONT it again
#   libvirt_hosts.sh freeze N    SIGSTOP every process of the host but its namespace's init
#                                (libvirtd and its QEMU guests): a frozen host
#   libvirt_hosts.sh thaw N      SIGCONT them again
#   libvirt_hosts.sh restart N [GAP]  stop the host's libvirtd (SIGTERM: its QEMU guests keep
#                                running), wait GAP seconds (default 0), start it again in the
#                                host's namespaces; returns once the new daemon answers
#   libvirt_hosts.sh stop-all    kill every host under BASE
# BASE (required) is the folder that holds the hosts' state. Needs root.
set -euo pipefail
BASE=${BASE:?set BASE to a folder for the hosts state}
cmd=$1
n=${2:-}
H=$BASE/h$n

ns_init() { pgrep -P "$(cat "$1/unshare.pid")" 2>/dev/null | head -1; }
# The processes of host $1's PID namespace, its init excepted.
ns_pids() {
  local init ns p
  init=$(ns_init "$1")
  ns=$(readlink "/proc/$init/ns/pid")
  for p in /proc/[0-9]*; do
    p=${p#/proc/}
    [ "$p" = "$init" ] && continue
    [ "$(readlink "/proc/$p/ns/pid" 2>/dev/null)" = "$ns" ] && echo "$p"
  done
  return 0
}
# The host's libvirtd (the first one started is a child of the namespace's init; a restarted
# one is not).
libvirtd_pid() {
  local p
  for p in $(ns_pids "$1"); do
    [ "$(cat "/proc/$p/comm" 2>/dev/null)" = libvirtd ] && { echo "$p"; return 0; }
  done
  return 1
}

case $cmd in
start)
  mkdir -p /run/libvirt /var/lib/libvirt /var/log/libvirt /var/cache/libvirt
  # libvirtd's QEMU driver refuses to start without this user, even when told to run as root.
  id libvirt-qemu >/dev/null 2>&1 || useradd -r -M -s /usr/sbin/nologin libvirt-qemu
  rm -rf "$H"
  mkdir -p "$H"/{run,lib,log,cache,etc}
  cat > "$H/etc/qemu.conf" <<'CONF'
user = "root"
group = "root"
security_driver = "none"
remember_owner = 0
stdio_handler = "file"
cgroup_controllers = [ ]
namespaces = [ ]
CONF
  cat > "$H/etc/libvirtd.conf" <<'CONF'
log_outputs = "3:file:/var/log/libvirt/libvirtd.log"
keepalive_interval = 2
keepalive_count = 3
CONF
  : > "$H/etc/libvirt.conf"
  unshare --mount --propagation private --pid --fork --kill-child --mount-proc bash -c "
    mount --bind $H/run /run/libvirt
    mount --bind $H/lib /var/lib/libvirt
    mount --bind $H/log /var/log/libvirt
    mount --bind $H/cache /var/cache/libvirt
    mount --bind $H/etc /etc/libvirt
    # This shell stays the namespace's init and reaps orphans: QEMU processes daemonize, and
    # libvirtd waits for its capability-probing QEMU to be gone, which a zombie never is (the
    # first define on a host took 40 s with libvirtd itself as init).
    /usr/sbin/libvirtd -f /etc/libvirt/libvirtd.conf -p /run/libvirt/libvirtd.pid &
    while true; do wait; sleep 1; done" \
    > "$H/ns.out" 2>&1 < /dev/null &
  echo $! > "$H/unshare.pid"
  for _ in $(seq 1 200); do [ -S "$H/run/libvirt-sock" ] && break; sleep 0.05; done
  if [ ! -S "$H/run/libvirt-sock" ]; then
    echo "host $n: libvirtd socket did not appear; see $H/ns.out" >&2
    exit 1
  fi
  # The test driver frees test:///default when its last client disconnects: a holder client
  # keeps the host's state alive while vmkeeperd is killed and restarted.
  mkfifo "$H/hold"
  sleep infinity > "$H/hold" &
  echo $! > "$H/holder.pid"
  virsh -c "test+unix:///default?socket=$H/run/libvirt-sock" < "$H/hold" > /dev/null 2>&1 &
  ;;
uri) echo "test+unix:///default?socket=$H/run/libvirt-sock" ;;
qemu-uri) echo "qemu+unix:///system?socket=$H/run/libvirt-sock" ;;
kill)
  [ -f "$H/holder.pid" ] && kill "$(cat "$H/holder.pid")" 2>/dev/null || true
  pid=$(ns_init "$H" || true)
  [ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null || true
  kill -KILL "$(cat "$H/unshare.pid")" 2>/dev/null || true
  ;;
stop|cont)
  pid=$(libvirtd_pid "$H" || ns_init "$H")
  kill "-${cmd^^}" "$pid"
  ;;
freeze|thaw)
  sig=$([ "$cmd" = freeze ] && echo STOP || echo CONT)
  for p in $(ns_pids "$H"); do kill "-$sig" "$p" 2>/dev/null || true; done
  ;;
restart)
  gap=${3:-0}
  init=$(ns_init "$H")
  old=$(libvirtd_pid "$H")
  kill -TERM "$old"
  for _ in $(seq 1 400); do kill -0 "$old" 2>/dev/null || break; sleep 0.05; done
  if kill -0 "$old" 2>/dev/null; then echo "host $n: libvirtd did not stop" >&2; exit 1; fi
  sleep "$gap"
  nsenter --target "$init" --mount --pid \
    /usr/sbin/libvirtd -f /etc/libvirt/libvirtd.conf -p /run/libvirt/libvirtd.pid \
    >> "$H/ns.out" 2>&1 < /dev/null &
  for _ in $(seq 1 400); do
    virsh -c "qemu+unix:///system?socket=$H/run/libvirt-sock" uri > /dev/null 2>&1 && exit 0
    sleep 0.05
  done
  echo "host $n: the restarted libvirtd does not answer; see $H/ns.out" >&2
  exit 1
  ;;
stop-all)
  for d in "$BASE"/h*; do
    [ -f "$d/holder.pid" ] && kill "$(cat "$d/holder.pid")" 2>/dev/null || true
    [ -f "$d/unshare.pid" ] || continue
    pid=$(ns_init "$d" || true)
    [ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null || true
    kill -KILL "$(cat "$d/unshare.pid")" 2>/dev/null || true
  done
  ;;
*) echo "usage: $0 start|uri|qemu-uri|kill|stop|cont|freeze|thaw|restart|stop-all [N]" >&2; exit 2 ;;
esac
