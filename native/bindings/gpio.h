// The native side of GpioChip (src/hw/chip.ts): one native class per JS class.
#pragma once

#include <napi.h>

#include <memory>

#include "common/mapped_region.h"
#include "common/regs.h"
#include "soc/gpio_soc.h"
#include "soc/model.h"

namespace pic {

// Everything an open chip owns. Shared between the wrapper object and the fast functions that
// hold a raw pointer to it (see GpioChip's constructor), so it lives until the last of them is
// collected; close() only unmaps and marks it closed.
struct GpioCore {
  Regs regs;
  MappedRegion region;
  std::unique_ptr<GpioSoc> soc;
  std::unique_ptr<GpioModel> model;
  bool open = false;
  bool allowReserved = false;
  unsigned pinCount = 0;
};

class GpioChip : public Napi::ObjectWrap<GpioChip> {
 public:
  static Napi::Function Init(Napi::Env env);
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

}  // namespace pic
