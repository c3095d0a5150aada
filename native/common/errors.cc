#include "common/errors.h"

#include <uv.h>

#include <cerrno>
#include <cstring>

namespace pc {

const char* ErrnoCode(int err) {
  switch (err) {
    case EACCES: return "EACCES";
    case EPERM: return "EPERM";
    case ENOENT: return "ENOENT";
    case EINVAL: return "EINVAL";
    case ENODEV: return "ENODEV";
    case ENXIO: return "ENXIO";
    case EBUSY: return "EBUSY";
    case ENOMEM: return "ENOMEM";
    case EROFS: return "EROFS";
    case EISDIR: return "EISDIR";
    case EMFILE: return "EMFILE";
    case ENFILE: return "ENFILE";
    default: return "EIO";
  }
}

Napi::Error MakeHwError(Napi::Env env, const HwErrorInfo& info) {
  Napi::Object opts = Napi::Object::New(env);
  opts.Set("code", info.code);
  if (info.syscall != nullptr) opts.Set("syscall", info.syscall);
  if (info.peripheral != nullptr) opts.Set("peripheral", info.peripheral);
  if (info.errnum != 0) opts.Set("errno", info.errnum);
  if (!info.path.empty()) opts.Set("path", info.path);
  AddonData* data = env.GetInstanceData<AddonData>();
  if (data != nullptr && !data->errorClass.IsEmpty()) {
    Napi::Value e = data->errorClass.New({Napi::String::New(env, info.message), opts});
    if (!env.IsExceptionPending() && e.IsObject()) return Napi::Error(env, e);
  }
  // No class registered (a bare require of the binary): a plain Error with the same fields.
  Napi::Error e = Napi::Error::New(env, info.message);
  for (const char* k : {"code", "syscall", "peripheral", "errno", "path"}) {
    if (opts.Has(k)) e.Value().Set(k, opts.Get(k));
  }
  return e;
}

napi_value ThrowRange(napi_env env, const char* code, const std::string& message) {
  napi_throw_range_error(env, code, message.c_str());
  return nullptr;
}

napi_value ThrowType(napi_env env, const char* code, const std::string& message) {
  napi_throw_type_error(env, code, message.c_str());
  return nullptr;
}

napi_value ThrowHw(napi_env env, const HwErrorInfo& info) {
  Napi::Env e(env);
  MakeHwError(e, info).ThrowAsJavaScriptException();
  return nullptr;
}

Napi::Error ErrnoError(Napi::Env env, int err, const std::string& syscall, const std::string& peripheral,
                       const std::string& path) {
  // uv_err_name gives Node's own spelling of errno names (as in fs errors) for every errno the
  // I2C and GPIO drivers return, without needing a newer glibc than the prebuilds target.
  const char* name = uv_err_name(-err);
  std::string code = (name != nullptr && std::strncmp(name, "Unknown", 7) != 0) ? name : "E" + std::to_string(err);
  // On Linux ENOTSUP and EOPNOTSUPP are the same number; libuv names it ENOTSUP, but the kernel's
  // I2C and GPIO code (and its documentation) speak of EOPNOTSUPP, so use that name.
  if (err == EOPNOTSUPP) code = "EOPNOTSUPP";
  HwErrorInfo info;
  info.code = code.c_str();
  info.message = code + ": " + std::strerror(err) + ", " + syscall + (path.empty() ? "" : " (" + path + ")");
  info.syscall = syscall.c_str();
  info.peripheral = peripheral.c_str();
  info.errnum = err;
  info.path = path;
  return MakeHwError(env, info);
}

Napi::Error CodedError(Napi::Env env, const std::string& code, const std::string& message,
                       const std::string& peripheral) {
  HwErrorInfo info;
  info.code = code.c_str();
  info.message = code + ": " + message;
  info.peripheral = peripheral.c_str();
  return MakeHwError(env, info);
}

Napi::Value ThrowInvalid(Napi::Env env, const std::string& message, const std::string& peripheral) {
  CodedError(env, "EINVAL", message, peripheral).ThrowAsJavaScriptException();
  return env.Undefined();
}

}  // namespace pc
