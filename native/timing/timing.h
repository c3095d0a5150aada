// Timing peripherals of the addon, registered under `exports.timing`: hardware PWM (HwPwm) and the
// native timing thread for software PWM, waveforms and polled edge events (TimingEngine).
#pragma once
#include <napi.h>

namespace pc::timing {

void InitTiming(Napi::Env env, Napi::Object exports);
Napi::Function DefineHwPwm(Napi::Env env);
Napi::Function DefineTimingEngine(Napi::Env env);

}  // namespace pc::timing
