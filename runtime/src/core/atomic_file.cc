// WriteFileAtomically (edgert/atomic_file.h): POSIX open/write/close, so that every failure has
// an errno to report, then rename(2).
#include "edgert/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace edgert {

Status WriteFileAtomically(const std::string& path, const std::string& contents, const std::string& what) {
  const std::string label = what.empty() ? std::string() : what + " ";
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
  if (fd < 0) {
    const int err = errno;  // nothing was created: nothing to remove
    return IoError("cannot write " + label + tmp + ": " + std::strerror(err), path);
  }
  int err = 0;  // the first failure's errno
  for (size_t done = 0; done < contents.size();) {
    const ssize_t n = ::write(fd, contents.data() + done, contents.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      err = n < 0 ? errno : EIO;
      break;
    }
    done += static_cast<size_t>(n);
  }
  if (::close(fd) != 0 && err == 0) err = errno;
  if (err != 0) {
    std::remove(tmp.c_str());
    return IoError("cannot write " + label + tmp + ": " + std::strerror(err), path);
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    err = errno;
    std::remove(tmp.c_str());
    return IoError("cannot rename " + tmp + " to " + label + path + ": " + std::strerror(err), path);
  }
  return Status::Ok();
}

}  // namespace edgert
