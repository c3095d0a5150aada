// Module entry point for the pi-controller native addon.
#include <napi.h>

#include "kernel/kernel.h"

namespace {

Napi::Value AddonVersion(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), "0.1.0");
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("version", Napi::Function::New(env, AddonVersion, "version"));
  pc::kernel::InitKernel(env, exports);
  return exports;
}

}  // namespace

NODE_API_MODULE(pi_controller, Init)
