// The GPIO interface every SoC family implements. Callers (native/bindings) validate pins,
// functions and banks against PinCount/Supports/BankWidth before calling: the implementations
// assume valid arguments and only translate them into register accesses through Regs.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "common/regs.h"

namespace pc {

enum class Pull : uint8_t { kNone, kUp, kDown };

// Pin functions. kInput/kOutput are plain GPIO. kAlt0..kAlt8 are the alternative functions
// (BCM: ALT0-5; RP1: FUNCSEL a0-a8, where a5 is SYS_RIO, i.e. plain GPIO, so RP1 reports and
// accepts that one as input/output). kNone is RP1's NULL function (FUNCSEL 0x1F).
enum class Func : uint8_t { kInput, kOutput, kAlt0, kAlt1, kAlt2, kAlt3, kAlt4, kAlt5, kAlt6, kAlt7, kAlt8, kNone };

enum class Slew : uint8_t { kSlow, kFast };

// The registers one pin's write and read use, resolved once when the chip opens (see
// native/bindings/gpio.cc, the fast path): set/clr take `bit`, lev holds the level at `bit`.
struct PinRegs {
  RegRef set, clr, lev;
  uint32_t bit = 0;
};
// The same for a whole bank; `valid` masks the bank's pins.
struct BankRegs {
  RegRef set, clr, lev;
  uint32_t valid = 0;
};

class GpioSoc {
 public:
  explicit GpioSoc(Regs& regs) : regs_(regs) {}
  virtual ~GpioSoc() = default;
  GpioSoc(const GpioSoc&) = delete;
  GpioSoc& operator=(const GpioSoc&) = delete;

  virtual const char* Name() const = 0;
  virtual unsigned PinCount() const = 0;
  // Banks: the pins one register word covers. BCM: 0-31, 32-53/57. RP1: 0-27, 28-33, 34-53.
  virtual unsigned BankCount() const = 0;
  virtual unsigned BankFirstPin(unsigned bank) const = 0;
  virtual unsigned BankWidth(unsigned bank) const = 0;
  // Bytes the gpiomem device maps for this SoC, and the blocks inside that window.
  virtual size_t MapSize() const = 0;
  virtual void AttachBlocks(uint8_t* window) = 0;

  virtual bool Supports(Func f) const = 0;
  virtual bool HasPadControl() const { return false; }  // drive strength and slew (RP1)

  virtual void SetFunction(unsigned pin, Func f) = 0;
  virtual Func GetFunction(unsigned pin) = 0;
  virtual void Write(unsigned pin, bool high) = 0;
  virtual bool Read(unsigned pin) = 0;
  virtual void SetMask(unsigned bank, uint32_t mask) = 0;
  virtual void ClearMask(unsigned bank, uint32_t mask) = 0;
  virtual uint32_t ReadBank(unsigned bank) = 0;
  virtual void SetPull(unsigned pin, Pull p) = 0;
  // The registers Write/Read/SetMask/ClearMask/ReadBank use, for callers that cache them. Only
  // valid after AttachBlocks, and until the mapping goes away.
  virtual PinRegs PinRefs(unsigned pin) const = 0;
  virtual BankRegs BankRefs(unsigned bank) const = 0;
  // Only called when HasPadControl(); milliamps is one of 2, 4, 8, 12.
  virtual void SetDrive(unsigned /*pin*/, unsigned /*milliamps*/) {}
  virtual void SetSlew(unsigned /*pin*/, Slew /*s*/) {}

  Regs& regs() { return regs_; }

 protected:
  Regs& regs_;
};

// The SoC implementation for a name ("bcm2835", "bcm2836", "bcm2837", "bcm2711", "rp1"), or
// nullptr for an unknown name. All families are compiled into every build; the choice is here.
std::unique_ptr<GpioSoc> MakeGpioSoc(const std::string& name, Regs& regs);

}  // namespace pc
