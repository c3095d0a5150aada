#include "kernel/kernel.h"

#include "kernel/errors.h"

namespace pc::kernel {

void InitKernel(Napi::Env env, Napi::Object exports) {
  Napi::Object k = Napi::Object::New(env);
  k.Set("I2cBus", DefineI2cBus(env));
  k.Set("GpioChip", DefineGpioChip(env));
  k.Set("LineRequest", DefineLineRequest(env));
  k.Set("setErrorClass", Napi::Function::New(
                             env,
                             [](const Napi::CallbackInfo& info) -> Napi::Value {
                               if (!info[0].IsFunction())
                                 return ThrowInvalid(info.Env(), "setErrorClass needs a class", "kernel");
                               SetErrorClass(info.Env(), info[0].As<Napi::Function>());
                               return info.Env().Undefined();
                             },
                             "setErrorClass"));
  exports.Set("kernel", k);
}

}  // namespace pc::kernel
