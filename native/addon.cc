// Module entry point for the pi-controller native addon.
#include <napi.h>

#include "common/errors.h"
#include "bindings/gpio.h"
#include "bindings/bindings.h"

namespace {

// The benchmark baseline: a plain N-API call that does nothing, the floor under every call.
napi_value Noop(napi_env, napi_callback_info) { return nullptr; }

// setErrorClass(HwError): the class native code instantiates for hardware and system errors.
Napi::Value SetErrorClass(const Napi::CallbackInfo& info) {
  if (info.Length() < 1 || !info[0].IsFunction()) {
    throw Napi::TypeError::New(info.Env(), "setErrorClass needs a class");
  }
  info.Env().GetInstanceData<pc::AddonData>()->errorClass = Napi::Persistent(info[0].As<Napi::Function>());
  return info.Env().Undefined();
}

Napi::Value AddonVersion(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), "0.1.0"); }

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("version", Napi::Function::New(env, AddonVersion, "version"));
  auto* data = new pc::AddonData();
  env.SetInstanceData<pc::AddonData>(data);  // deleted by node-addon-api at env teardown
  exports.Set("setErrorClass", Napi::Function::New(env, SetErrorClass, "setErrorClass"));
  napi_value noop;
  NAPI_THROW_IF_FAILED(env, napi_create_function(env, "noop", NAPI_AUTO_LENGTH, Noop, nullptr, &noop), exports);
  exports.Set("noop", Napi::Value(env, noop));
  Napi::Function gpio = pc::GpioChip::Init(env);
  data->gpioChip = Napi::Persistent(gpio);
  exports.Set("GpioChip", gpio);
  pc::GpioChip::InitFastPath(env, exports);
  pc::InitKernel(env, exports);
  pc::InitTiming(env, exports);
  return exports;
}

}  // namespace

NODE_API_MODULE(pi_controller, Init)
