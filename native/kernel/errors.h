// Errors of the kernel interfaces: JS errors of the class that TS passes in at init, carrying the
// errno as `code` ("ENXIO"), `errno` (positive number), `syscall` and `peripheral`.
#pragma once
#include <napi.h>

#include <string>

namespace pc::kernel {

/** Remembers the JS error class for this env (called once from InitKernel's setErrorClass). */
void SetErrorClass(Napi::Env env, Napi::Function cls);

/** Builds the error for a failed system call; `err` is a positive errno. */
Napi::Error ErrnoError(Napi::Env env, int err, const std::string& syscall, const std::string& peripheral,
                       const std::string& detail);

/** Builds an error with a project code (e.g. "EINVAL" for bad arguments, "ECLOSED"). */
Napi::Error CodedError(Napi::Env env, const std::string& code, const std::string& message,
                       const std::string& peripheral);

/** Throws a TypeError-like coded EINVAL error and returns an empty value for early returns. */
Napi::Value ThrowInvalid(Napi::Env env, const std::string& message, const std::string& peripheral);

}  // namespace pc::kernel
