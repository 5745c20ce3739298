// RunSubprocess: runs a program to completion under a deadline, the one way vmkeeper starts
// processes (fence agents, exec probes).
//
//   - argv is executed directly with posix_spawn: no shell, so no quoting or expansion of any
//     argument. argv[0] is a path, or, with search_path, a name looked up in $PATH.
//   - The child leads a process group of its own, with an empty signal mask and default signal
//     dispositions (whatever the daemon blocks or ignores), and inherits no descriptor but 0-2
//     (glibc >= 2.34; older ones rely on O_CLOEXEC everywhere).
//   - stdin: the given bytes through a pipe, then EOF; or /dev/null. A child that exits without
//     reading them costs nothing: the write fails with EPIPE, SIGPIPE never reaches the daemon.
//   - stdout and stderr: captured, each bounded to its last max_output_bytes (cut at a line
//     break, so no partial first line is kept; a single line longer than the bound is dropped);
//     or /dev/null. The child never blocks on a full pipe.
//   - The deadline is measured on the given Clock (waits are sliced to 100 ms of real time so a
//     FakeClock's Advance is noticed). When it passes, stdin is closed and the whole group gets
//     SIGTERM, then SIGKILL kill_grace later (at once when kill_grace is zero).
//   - The child is always reaped, on every path, and whatever it left running in its group is
//     SIGKILLed when it exits: no zombie and no stray process outlives a call. (A descendant
//     that moved to another group or session escapes, as with any group-based supervision.)
//   - Once the child has exited, output still buffered is read without waiting for EOF, so a
//     background process that holds the pipes open does not delay the result.
//
// Needs the process's SIGCHLD disposition not to be SIG_IGN and no one else to reap arbitrary
// children (waitpid(-1)), as usual for code that runs child processes.
//
// Thread-safe: calls share nothing, and any number may run at once.
#pragma once

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/status.h"

namespace vmk {

struct SubprocessOptions {
  std::vector<std::string> argv;  // argv[0]: the program; must not be empty
  bool search_path = false;       // look argv[0] up in $PATH when it has no '/'
  std::optional<std::string> stdin_data;  // nullopt: /dev/null
  bool capture_output = false;    // false: stdout and stderr go to /dev/null
  size_t max_output_bytes = 64 * 1024;  // kept of each of stdout and stderr (their tail)
  Duration timeout = std::chrono::seconds(60);        // must be positive
  Duration kill_grace = std::chrono::seconds(2);      // SIGTERM ... SIGKILL; zero: SIGKILL only
};

struct SubprocessResult {
  // How the child ended: exited with exit_code, or was killed by term_signal (ours after a
  // timeout, or anyone's). Neither set: its status could not be collected.
  std::optional<int> exit_code;
  std::optional<int> term_signal;
  bool timed_out = false;  // the deadline passed and the group was signalled
  bool sigkilled = false;  // ... and it took SIGKILL (the grace passed, or there was none)
  std::string stdout_tail;  // with capture_output
  std::string stderr_tail;
  Duration elapsed{};       // on the Clock

  // Exited with status 0 before the deadline.
  bool succeeded() const { return !timed_out && exit_code == 0; }
};

// Runs options.argv as described above. Errors: InvalidArgument for bad options; Unavailable
// when the program could not be started, with the errno text alone as the message ("No such
// file or directory"), for the caller to put in context; Internal when supervision itself
// failed (the child is still killed and reaped).
StatusOr<SubprocessResult> RunSubprocess(const SubprocessOptions& options, Clock* clock);

}  // namespace vmk
