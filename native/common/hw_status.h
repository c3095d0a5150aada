// Error values of the hardware layer. Nothing below the bindings throws: every operation that can
// fail returns an HwStatus, and native/bindings turn it into a JS error with code and syscall.
#pragma once

namespace pc {

struct HwStatus {
  int err = 0;                    // errno value, 0 on success
  const char* syscall = nullptr;  // the failing system call ("open", "mmap", "fstat"), if any

  bool ok() const { return err == 0; }
  static HwStatus Ok() { return {}; }
  static HwStatus Fail(int e, const char* sc) { return {e, sc}; }
};

}  // namespace pc
