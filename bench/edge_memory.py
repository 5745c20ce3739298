#!/usr/bin/env python3
# The memory a running vmkeeperd keeps after big requests (docs/http-edge.md, "Measured"):
# N big dry-run applies, N heads with a 100 MiB header, N 200 MiB Content-Lengths, one after
# another, with VmRSS/VmHWM from /proc/PID/status right after each batch and 3 s later.
# Usage: bench/edge_memory.py HOST:PORT PID N   (vmkeeperd on loopback, default limits)
import json, socket, sys, time, subprocess
host, port = sys.argv[1].split(':'); port = int(port); pid = sys.argv[2]
def rss():
    d = dict(l.split(':', 1) for l in open('/proc/%s/status' % pid))
    return "VmRSS %s, VmHWM %s" % (d['VmRSS'].strip(), d['VmHWM'].strip())
def conn(): return socket.create_connection((host, port))
def request(data, read=True):
    c = conn()
    try:
        c.sendall(data); c.settimeout(60)
        r = b""
        while read:
            d = c.recv(65536)
            if not d: break
            r += d
        return r.split(b"\r\n")[0]
    except Exception as e: return repr(e)[:40]
    finally: c.close()
vm = "---\napiVersion: vmkeeper/v1\nkind: VirtualMachine\nmetadata: {name: v%d}\nspec: {cpus: 1}\n"
manifest = "".join(vm % i for i in range(19000))
body = json.dumps({"files": [{"name": "big.yaml", "content": manifest}], "dryRun": True}).encode()
print("apply body %.1f MB" % (len(body) / 1e6))
apply = b"POST /api/v1/apply HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: %d\r\n\r\n" % len(body) + body
header = b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Big: " + b"b" * (100 << 20) + b"\r\n\r\n"
over = b"POST /api/v1/apply HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % (200 << 20) + b"x" * (8 << 20)
print("baseline:", rss())
N = int(sys.argv[3])
for name, data in (("1.8 MB apply --dry-run of 19,000 VMs", apply), ("100 MiB header", header), ("200 MiB Content-Length", over)):
    t0 = time.time(); results = {}
    for i in range(N):
        r = request(data); results[r] = results.get(r, 0) + 1
    print("%d x %s: %s in %.1f s; %s" % (N, name, results, time.time() - t0, rss()))
    time.sleep(3); print("  3 s later:", rss())
print("healthz:", request(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"))
