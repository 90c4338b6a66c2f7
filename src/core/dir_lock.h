// An exclusive claim on an output directory while a command writes it. Two invdiff processes
// on one directory (a second `bench -o X`, `train -o X --resume` while the first still runs)
// would both write the same checkpoints and stage records; the second is refused instead, in
// one line naming the holder. flock(2) on DIR/.invdiff.lock: the kernel drops the lock when the
// holder exits, however it exits, so a crashed or killed run never leaves a stale lock.
#pragma once
#include <string>

namespace invdiff {

class DirLock {
 public:
  // Creates dir if needed; throws std::runtime_error when another claim holds it. `what` names
  // the holder's job in the other process's error ("bench", "train", ...).
  DirLock(const std::string& dir, const std::string& what);
  ~DirLock();
  DirLock(const DirLock&) = delete;
  DirLock& operator=(const DirLock&) = delete;

 private:
  int fd_ = -1;
};

}  // namespace invdiff
