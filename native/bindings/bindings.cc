#include "bindings/bindings.h"

namespace pc {

void InitKernel(Napi::Env env, Napi::Object exports) {
  Napi::Object k = Napi::Object::New(env);
  k.Set("I2cBus", DefineI2cBus(env));
  k.Set("GpioChip", DefineCdevGpioChip(env));
  k.Set("LineRequest", DefineLineRequest(env));
  k.Set("BscBus", DefineBscBus(env));
  exports.Set("kernel", k);
}

void InitTiming(Napi::Env env, Napi::Object exports) {
  Napi::Object t = Napi::Object::New(env);
  t.Set("HwPwm", DefineHwPwm(env));
  t.Set("TimingEngine", DefineTimingEngine(env));
  exports.Set("timing", t);
}

}  // namespace pc
