// A memory mapping of a device (or any file) region, released on destruction.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "common/hw_status.h"

namespace pc {

class MappedRegion {
 public:
  MappedRegion() = default;
  ~MappedRegion() { Unmap(); }
  MappedRegion(const MappedRegion&) = delete;
  MappedRegion& operator=(const MappedRegion&) = delete;
  MappedRegion(MappedRegion&& o) noexcept { *this = static_cast<MappedRegion&&>(o); }
  MappedRegion& operator=(MappedRegion&& o) noexcept;

  // Opens `path` O_RDWR|O_SYNC and maps `size` bytes at `offset` (a multiple of the page size).
  // A regular file shorter than offset+size is refused (EINVAL, syscall "fstat") instead of being
  // mapped: touching a page past its end would raise SIGBUS in the middle of a register sequence.
  HwStatus Map(const std::string& path, size_t size, uint64_t offset = 0);
  // Anonymous zero-filled memory: the backing page of a simulated chip that has no file.
  HwStatus MapAnonymous(size_t size);
  void Unmap();

  uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  bool mapped() const { return data_ != nullptr; }
  const std::string& path() const { return path_; }

 private:
  uint8_t* data_ = nullptr;
  size_t size_ = 0;
  std::string path_;
};

}  // namespace pc
