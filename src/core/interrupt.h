// Ctrl-C / SIGTERM: the first signal sets a flag that long loops poll, so they can write a
// checkpoint and stop cleanly; a second signal exits at once.
#pragma once

namespace invdiff {
void install_interrupt_handler();
bool interrupted();
void clear_interrupt();  // tests
}  // namespace invdiff
