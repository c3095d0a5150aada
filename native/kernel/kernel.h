// The kernel interfaces of the addon: I2C through /dev/i2c-N (i2c-dev) and GPIO through
// /dev/gpiochipN (character device uAPI v2). Registered under `exports.kernel`.
#pragma once
#include <napi.h>

namespace pc::kernel {

/**
 * Adds `kernel` (I2cBus, GpioChip, LineRequest) to the module exports. Errors use the class given
 * to the addon's setErrorClass (see bindings/errors.h).
 */
void InitKernel(Napi::Env env, Napi::Object exports);

Napi::Function DefineI2cBus(Napi::Env env);
Napi::Function DefineGpioChip(Napi::Env env);
Napi::Function DefineLineRequest(Napi::Env env);
/** I2C through the BSC registers (native/bsc), exported beside the kernel paths as kernel.BscBus. */
Napi::Function DefineBscBus(Napi::Env env);

}  // namespace pc::kernel
