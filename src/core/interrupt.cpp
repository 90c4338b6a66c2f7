#include "core/interrupt.h"

#include <csignal>
#include <cstdlib>
#include <unistd.h>

namespace invdiff {

static volatile std::sig_atomic_t g_interrupted = 0;

static void on_signal(int sig) {
  if (g_interrupted) _exit(128 + sig);
  g_interrupted = 1;
  const char msg[] = "\ninterrupt: finishing the current step and writing a checkpoint (again to abort)\n";
  (void)!write(STDERR_FILENO, msg, sizeof msg - 1);
}

void install_interrupt_handler() {
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
}

bool interrupted() { return g_interrupted != 0; }
void clear_interrupt() { g_interrupted = 0; }

}  // namespace invdiff
