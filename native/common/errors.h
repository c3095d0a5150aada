// How native code raises JS errors. Hardware and system failures become instances of the JS
// error class that src/hw registers at load time (HwError: code, syscall, peripheral, errno,
// path); bad arguments become RangeError/TypeError carrying a `code`, like Node's own.
#pragma once

#include <napi.h>

#include <string>

namespace pc {

struct AddonData {
  Napi::FunctionReference errorClass;  // set by setErrorClass(); may be empty
  Napi::FunctionReference gpioChip;
};

struct HwErrorInfo {
  const char* code;
  std::string message;
  const char* syscall = nullptr;
  const char* peripheral = nullptr;
  int errnum = 0;
  std::string path;
};

// The one errno-to-code map: the errno's own symbolic name ("EACCES", "ENOTDIR", "EREMOTEIO"),
// ENOTSUP spelled EOPNOTSUPP; "E<number>" for a number that is no Linux errno. Never another errno's.
std::string ErrnoCode(int err);

Napi::Error MakeHwError(Napi::Env env, const HwErrorInfo& info);
// napi_throw_* helpers for the plain N-API hot path; they return nullptr for `return Throw...`.
napi_value ThrowRange(napi_env env, const char* code, const std::string& message);
napi_value ThrowType(napi_env env, const char* code, const std::string& message);
napi_value ThrowHw(napi_env env, const HwErrorInfo& info);

/** The error for a failed system call; `err` is a positive errno, `path` the device. */
Napi::Error ErrnoError(Napi::Env env, int err, const std::string& syscall, const std::string& peripheral,
                       const std::string& path);

/** An error with a project code (e.g. "ECLOSED"). */
Napi::Error CodedError(Napi::Env env, const std::string& code, const std::string& message,
                       const std::string& peripheral);

/** Throws a coded EINVAL error (bad argument) and returns undefined for early returns. */
Napi::Value ThrowInvalid(Napi::Env env, const std::string& message, const std::string& peripheral);

}  // namespace pc
