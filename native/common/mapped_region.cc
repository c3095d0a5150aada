#include "common/mapped_region.h"

#include <cerrno>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

namespace pc {

MappedRegion& MappedRegion::operator=(MappedRegion&& o) noexcept {
  if (this != &o) {
    Unmap();
    data_ = o.data_;
    size_ = o.size_;
    path_ = static_cast<std::string&&>(o.path_);
    o.data_ = nullptr;
    o.size_ = 0;
  }
  return *this;
}

HwStatus MappedRegion::Map(const std::string& path, size_t size, uint64_t offset) {
  Unmap();
  // O_SYNC matters for /dev/mem: it makes the kernel map the range uncached. /dev/gpiomem maps
  // device memory either way; a regular file ignores it.
  int fd = ::open(path.c_str(), O_RDWR | O_SYNC | O_CLOEXEC);
  if (fd < 0) return HwStatus::Fail(errno, "open");
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    int e = errno;
    ::close(fd);
    return HwStatus::Fail(e, "fstat");
  }
  if (S_ISREG(st.st_mode) && static_cast<uint64_t>(st.st_size) < offset + size) {
    ::close(fd);
    return HwStatus::Fail(EINVAL, "fstat");
  }
  void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, static_cast<off_t>(offset));
  int e = errno;
  ::close(fd);  // the mapping keeps its own reference to the file
  if (p == MAP_FAILED) return HwStatus::Fail(e, "mmap");
  data_ = static_cast<uint8_t*>(p);
  size_ = size;
  path_ = path;
  return HwStatus::Ok();
}

HwStatus MappedRegion::MapAnonymous(size_t size) {
  Unmap();
  void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return HwStatus::Fail(errno, "mmap");
  data_ = static_cast<uint8_t*>(p);
  size_ = size;
  path_.clear();
  return HwStatus::Ok();
}

void MappedRegion::Unmap() {
  if (data_ != nullptr) ::munmap(data_, size_);
  data_ = nullptr;
  size_ = 0;
}

}  // namespace pc
