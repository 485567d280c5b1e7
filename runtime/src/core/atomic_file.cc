// WriteFileAtomically (edgert/atomic_file.h):
//  1. mkstemp "<path>.tmp.XXXXXX" in the target's directory; write every byte (EINTR retried);
//     fchmod 0644 (mkstemp makes 0600); with `durable`, fsync; close.
//  2. rename over `path`; with `durable`, fsync the directory (a failure there leaves a correct
//     file, so it is not reported).
// Every failure after mkstemp unlinks the temporary file. POSIX calls throughout, so each failure
// has an errno to report.
#include "edgert/atomic_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace edgert {

Status WriteFileAtomically(const std::string& path, const void* data, size_t size, const std::string& what,
                           bool durable) {
  const std::string label = what.empty() ? path : what + " " + path;
  auto error = [&](const std::string& step, int err) {
    return IoError("cannot write " + label + ": " + step + ": " + std::strerror(err), path);
  };
  std::vector<char> name(path.begin(), path.end());
  const std::string suffix = ".tmp.XXXXXX";
  name.insert(name.end(), suffix.begin(), suffix.end());
  name.push_back('\0');
  const int fd = ::mkstemp(name.data());
  if (fd < 0) return error("create a temporary file beside it", errno);
  const std::string tmp(name.data());
  auto fail = [&](const std::string& step) {
    const int err = errno;
    ::close(fd);
    ::unlink(tmp.c_str());
    return error(step, err);
  };
  const char* bytes = static_cast<const char*>(data);
  for (size_t done = 0; done < size;) {
    const ssize_t n = ::write(fd, bytes + done, size - done);
    if (n < 0 && errno == EINTR) continue;
    if (n == 0) errno = EIO;
    if (n <= 0) return fail("write");
    done += static_cast<size_t>(n);
  }
  if (::fchmod(fd, 0644) != 0) return fail("fchmod");
  if (durable && ::fsync(fd) != 0) return fail("fsync");
  if (::close(fd) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    return error("close", err);
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    return error("rename", err);
  }
  if (durable) {
    const size_t slash = path.find_last_of('/');
    const std::string dir = slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
    const int dir_fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir_fd >= 0) {
      ::fsync(dir_fd);
      ::close(dir_fd);
    }
  }
  return Status::Ok();
}

}  // namespace edgert
