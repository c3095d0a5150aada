// The JS classes of the addon beyond the register GpioChip (bindings/gpio.h), one wrapper per
// class in this folder: under `exports.kernel` the kernel interfaces (I2cBus over /dev/i2c-N,
// GpioChip and LineRequest over /dev/gpiochipN) and BscBus; under `exports.timing` HwPwm and
// TimingEngine. addon.cc registers them.
#pragma once
#include <napi.h>

namespace pc {

/**
 * Adds `kernel` (I2cBus, GpioChip, LineRequest) to the module exports. Errors use the class given
 * to the addon's setErrorClass (see common/errors.h).
 */
void InitKernel(Napi::Env env, Napi::Object exports);

Napi::Function DefineI2cBus(Napi::Env env);
Napi::Function DefineCdevGpioChip(Napi::Env env);
Napi::Function DefineLineRequest(Napi::Env env);
/** I2C through the BSC registers (hal/bsc.h), exported beside the kernel paths as kernel.BscBus. */
Napi::Function DefineBscBus(Napi::Env env);

void InitTiming(Napi::Env env, Napi::Object exports);
Napi::Function DefineHwPwm(Napi::Env env);
Napi::Function DefineTimingEngine(Napi::Env env);

}  // namespace pc
