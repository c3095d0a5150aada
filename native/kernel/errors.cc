#include "kernel/errors.h"

#include <uv.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <mutex>

namespace pc::kernel {
namespace {

// One error class per env (the main thread and each worker thread have their own env).
std::mutex g_mu;
std::map<napi_env, Napi::FunctionReference*> g_classes;

Napi::Error Build(Napi::Env env, const std::string& message) {
  Napi::FunctionReference* ref = nullptr;
  {
    std::lock_guard<std::mutex> lock(g_mu);
    auto it = g_classes.find(env);
    if (it != g_classes.end()) ref = it->second;
  }
  if (ref == nullptr) return Napi::Error::New(env, message);
  Napi::Value obj = ref->New({Napi::String::New(env, message)});
  return Napi::Error(env, obj);
}

}  // namespace

void SetErrorClass(Napi::Env env, Napi::Function cls) {
  auto* ref = new Napi::FunctionReference(Napi::Persistent(cls));
  napi_env raw = env;
  std::lock_guard<std::mutex> lock(g_mu);
  auto it = g_classes.find(raw);
  if (it != g_classes.end()) {
    delete it->second;
    it->second = ref;
    return;
  }
  g_classes[raw] = ref;
  // Drop the reference when the env goes away (worker thread exit).
  env.AddCleanupHook([raw]() {
    std::lock_guard<std::mutex> l(g_mu);
    auto i = g_classes.find(raw);
    if (i != g_classes.end()) {
      delete i->second;
      g_classes.erase(i);
    }
  });
}

Napi::Error ErrnoError(Napi::Env env, int err, const std::string& syscall, const std::string& peripheral,
                       const std::string& detail) {
  // uv_err_name gives Node's own spelling of errno names (as in fs errors) without needing a
  // newer glibc than the prebuilds target (strerrorname_np is glibc 2.32+).
  const char* name = uv_err_name(-err);
  std::string code = (name != nullptr && std::strncmp(name, "Unknown", 7) != 0) ? name : "E" + std::to_string(err);
  // On Linux ENOTSUP and EOPNOTSUPP are the same number; libuv names it ENOTSUP, but the kernel's
  // I2C and GPIO code (and its documentation) speak of EOPNOTSUPP, so use that name.
  if (err == EOPNOTSUPP) code = "EOPNOTSUPP";
  std::string msg = code + ": " + std::strerror(err) + ", " + syscall;
  if (!detail.empty()) msg += " (" + detail + ")";
  Napi::Error e = Build(env, msg);
  e.Set("code", Napi::String::New(env, code));
  e.Set("errno", Napi::Number::New(env, err));
  e.Set("syscall", Napi::String::New(env, syscall));
  e.Set("peripheral", Napi::String::New(env, peripheral));
  return e;
}

Napi::Error CodedError(Napi::Env env, const std::string& code, const std::string& message,
                       const std::string& peripheral) {
  Napi::Error e = Build(env, code + ": " + message);
  e.Set("code", Napi::String::New(env, code));
  e.Set("peripheral", Napi::String::New(env, peripheral));
  return e;
}

Napi::Value ThrowInvalid(Napi::Env env, const std::string& message, const std::string& peripheral) {
  CodedError(env, "EINVAL", message, peripheral).ThrowAsJavaScriptException();
  return env.Undefined();
}

}  // namespace pc::kernel
