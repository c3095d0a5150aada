#include "timing/timing.h"

namespace pc::timing {

void InitTiming(Napi::Env env, Napi::Object exports) {
  Napi::Object t = Napi::Object::New(env);
  t.Set("HwPwm", DefineHwPwm(env));
  t.Set("TimingEngine", DefineTimingEngine(env));
  exports.Set("timing", t);
}

}  // namespace pc::timing
