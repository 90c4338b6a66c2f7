#include "core/dir_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "core/fs.h"

namespace invdiff {

DirLock::DirLock(const std::string& dir, const std::string& what) {
  ensure_dir(dir);
  const std::string path = join_path(dir, ".invdiff.lock");
  fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0) throw std::runtime_error("cannot open " + path + ": " + std::strerror(errno));
  if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    char holder[256] = {0};
    const ssize_t n = ::pread(fd_, holder, sizeof holder - 1, 0);
    ::close(fd_);
    fd_ = -1;
    if (err != EWOULDBLOCK) throw std::runtime_error("cannot lock " + path + ": " + std::strerror(err));
    std::string who = n > 0 ? std::string(holder, static_cast<size_t>(n)) : "another invdiff process";
    while (!who.empty() && (who.back() == '\n' || who.back() == ' ')) who.pop_back();
    throw std::runtime_error(dir + " is in use by " + who + "; wait for it to end or choose another -o");
  }
  // Who holds it, for the refusal above (the content is informative only: the lock is the flock).
  const std::string me = "invdiff " + what + " (pid " + std::to_string(::getpid()) + ")\n";
  if (::ftruncate(fd_, 0) == 0) (void)!::pwrite(fd_, me.data(), me.size(), 0);
}

DirLock::~DirLock() {
  if (fd_ >= 0) ::close(fd_);  // releases the flock; the file stays (removing it would race a new claim)
}

}  // namespace invdiff
