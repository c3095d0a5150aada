#include "kernel/errors.h"

#include <uv.h>

#include <cerrno>
#include <cstring>

#include "bindings/errors.h"

namespace pc::kernel {

Napi::Error ErrnoError(Napi::Env env, int err, const std::string& syscall, const std::string& peripheral,
                       const std::string& path) {
  // uv_err_name gives Node's own spelling of errno names (as in fs errors) for every errno the
  // I2C and GPIO drivers return, without needing a newer glibc than the prebuilds target.
  const char* name = uv_err_name(-err);
  std::string code = (name != nullptr && std::strncmp(name, "Unknown", 7) != 0) ? name : "E" + std::to_string(err);
  // On Linux ENOTSUP and EOPNOTSUPP are the same number; libuv names it ENOTSUP, but the kernel's
  // I2C and GPIO code (and its documentation) speak of EOPNOTSUPP, so use that name.
  if (err == EOPNOTSUPP) code = "EOPNOTSUPP";
  pic::HwErrorInfo info;
  info.code = code.c_str();
  info.message = code + ": " + std::strerror(err) + ", " + syscall + (path.empty() ? "" : " (" + path + ")");
  info.syscall = syscall.c_str();
  info.peripheral = peripheral.c_str();
  info.errnum = err;
  info.path = path;
  return pic::MakeHwError(env, info);
}

Napi::Error CodedError(Napi::Env env, const std::string& code, const std::string& message,
                       const std::string& peripheral) {
  pic::HwErrorInfo info;
  info.code = code.c_str();
  info.message = code + ": " + message;
  info.peripheral = peripheral.c_str();
  return pic::MakeHwError(env, info);
}

Napi::Value ThrowInvalid(Napi::Env env, const std::string& message, const std::string& peripheral) {
  CodedError(env, "EINVAL", message, peripheral).ThrowAsJavaScriptException();
  return env.Undefined();
}

}  // namespace pc::kernel
