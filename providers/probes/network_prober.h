// NetworkProber: the production Prober. HTTP and TCP go through the project's one HTTP
// client (common/http/http_client.h, on libcurl), exec through RunSubprocess
// (common/subprocess.h); this class only turns their outcomes into probe verdicts.
//
//   HTTP  healthy iff an HTTP/1.x status line with a 2xx code arrives within spec.timeout. The
//         one deadline covers resolving the name, connecting, sending the request and reading
//         the status line (headers and body are not read; redirects are not followed, a 3xx is
//         unhealthy). A TCP connect alone proves nothing: QEMU accepts connections on a
//         forwarded port before the guest listens, so an accepting peer that never answers is
//         unhealthy ("timed out after N ms"). Plain http only: the request goes to
//         http://address:port/path.
//   TCP   healthy iff a connection is established within spec.timeout (resolving included);
//         nothing is sent.
//   Exec  spec.command is run as argv (no shell, PATH searched for argv[0], stdin/stdout/stderr
//         on /dev/null, in a new process group); healthy iff it exits with status 0 within
//         spec.timeout. On timeout the whole process group is SIGKILLed at once (no grace); the
//         child is always reaped, and processes it left behind in its group are killed too.
//
// Messages: "HTTP 200", "HTTP 503", "connection refused", "timed out after 2000 ms (...)",
// "connection closed without an answer", "bad HTTP answer: ...", "cannot resolve <name>",
// "exit status 1", "killed by signal 15", "exec failed: ...", "invalid probe: ...". An address
// that is not a host name or an IP address, or an HTTP path that is not printable ASCII
// starting with / (no spaces, no #), is an invalid probe. Probe() never throws and closes every
// descriptor it opens on every path.
//
// Host names are resolved on libcurl's threaded resolver, bounded by spec.timeout like the rest
// of the probe: a hung DNS server costs a probe its timeout, no more. Deadlines are in real
// time (they wait in the kernel), so the prober reads RealClock and does not take a Clock.
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
