// Errors of the kernel interfaces, raised through the addon's common mechanism
// (bindings/errors.h): instances of the JS class src/hw registers at load (HwError), carrying the
// errno name as `code` ("ENXIO"), `errno`, `syscall`, `peripheral` and the device `path`.
#pragma once
#include <napi.h>

#include <string>

namespace pc::kernel {

/** The error for a failed system call; `err` is a positive errno, `path` the device. */
Napi::Error ErrnoError(Napi::Env env, int err, const std::string& syscall, const std::string& peripheral,
                       const std::string& path);

/** An error with a project code (e.g. "ECLOSED"). */
Napi::Error CodedError(Napi::Env env, const std::string& code, const std::string& message,
                       const std::string& peripheral);

/** Throws a coded EINVAL error (bad argument) and returns undefined for early returns. */
Napi::Value ThrowInvalid(Napi::Env env, const std::string& message, const std::string& peripheral);

}  // namespace pc::kernel
