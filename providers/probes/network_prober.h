// NetworkProber: the production Prober, on plain POSIX sockets and processes.
//
//   HTTP  healthy iff an HTTP/1.x status line with a 2xx code arrives within spec.timeout. The
//         one deadline covers connect, sending the request and reading the status line (the
//         body is not read). A TCP connect alone proves nothing: QEMU accepts connections on a
//         forwarded port before the guest listens, so an accepting peer that never answers is
//         unhealthy ("timed out after N ms").
//   TCP   healthy iff a connection is established within spec.timeout.
//   Exec  spec.command is run as argv (no shell, PATH searched for argv[0], stdin/stdout/stderr
//         on /dev/null, in a new process group); healthy iff it exits with status 0 within
//         spec.timeout. On timeout the whole process group is SIGKILLed; the child is always
//         reaped, and processes it left behind in its group are killed too.
//
// Messages: "HTTP 200", "HTTP 503", "connection refused", "timed out after 2000 ms (...)",
// "bad HTTP answer: ...", "exit status 1", "exec failed: ...". Probe() never throws and closes
// every descriptor it opens on every path.
//
// Host names are resolved with getaddrinfo, which blocks and is not bounded by spec.timeout
// (numeric IPs take a fast path that never touches DNS); give probes IP addresses where a slow
// resolver matters. Deadlines are in real time (poll waits in the kernel), so the prober reads
// RealClock and does not take a Clock.
//
// Exec probes need the process's SIGCHLD disposition not to be SIG_IGN and no one else to reap
// arbitrary children (waitpid(-1)), as usual for code that runs child processes.
//
// Thread-safe: Probe() keeps no state, so any number of probes may run concurrently.
#pragma once

#include "providers/probes/prober.h"

namespace vmk::providers {

class NetworkProber : public Prober {
 public:
  NetworkProber() = default;
  NetworkProber(const NetworkProber&) = delete;
  NetworkProber& operator=(const NetworkProber&) = delete;

  ProbeResult Probe(const ProbeSpec& spec) override;
};

}  // namespace vmk::providers
