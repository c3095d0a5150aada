// The native side of GpioChip (src/hw/chip.ts): one native class per JS class.
#pragma once

#include <napi.h>

#include <memory>

#include "common/mapped_region.h"
#include "common/regs.h"
#include "soc/gpio_soc.h"
#include "soc/model.h"

namespace pc {

// Everything an open chip owns. Shared between the wrapper object and the fast functions that
// hold a raw pointer to it (see GpioChip's constructor), so it lives until the last of them is
// collected; close() only unmaps and marks it closed.
struct GpioCore {
  ~GpioCore();
  Regs regs;
  MappedRegion region;
  std::unique_ptr<GpioSoc> soc;
  std::unique_ptr<GpioModel> model;
  bool open = false;
  bool allowReserved = false;
  unsigned pinCount = 0;
  // Argument/result slots shared with JS as an Int32Array (see the mailbox functions in
  // gpio.cc): the hot calls pass their arguments here instead of as JS arguments, because on
  // this N-API each napi_get_value_* costs about as much as the whole bare call.
  alignas(16) int32_t mailbox[4] = {0, 0, 0, 0};
  int fastSlot = -1;  // index in the process-wide fast-path table, or -1
  // Registers of each pin and bank, resolved once at open for the fast paths.
  PinRegs pins[64];
  BankRegs banks[3];
};

class GpioChip : public Napi::ObjectWrap<GpioChip> {
 public:
  static Napi::Function Init(Napi::Env env);
  // Claims the process-wide fast path for this env if no other env holds it (see gpio.cc).
  static void InitFastPath(Napi::Env env, Napi::Object exports);
  explicit GpioChip(const Napi::CallbackInfo& info);

 private:
  Napi::Value Info(const Napi::CallbackInfo& info);
  Napi::Value SetFunction(const Napi::CallbackInfo& info);
  Napi::Value GetFunction(const Napi::CallbackInfo& info);
  Napi::Value SetPull(const Napi::CallbackInfo& info);
  Napi::Value SetDrive(const Napi::CallbackInfo& info);
  Napi::Value SetSlew(const Napi::CallbackInfo& info);
  Napi::Value ReadRegister(const Napi::CallbackInfo& info);
  Napi::Value WriteRegister(const Napi::CallbackInfo& info);
  Napi::Value Trace(const Napi::CallbackInfo& info);
  Napi::Value ClearTrace(const Napi::CallbackInfo& info);
  Napi::Value SimDrive(const Napi::CallbackInfo& info);
  Napi::Value BenchToggle(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);

  std::shared_ptr<GpioCore> core_;
};

}  // namespace pc
