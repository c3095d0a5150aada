// Behavioural model of the RP1 GPIO blocks in the gpiomem0 window (see model.h).
#include <cstring>

#include "soc/model.h"
#include "soc/rp1.h"

namespace pc {

using namespace rp1;

namespace {

class Rp1GpioModel : public GpioModel {
 public:
  explicit Rp1GpioModel(uint8_t* window) : window_(window) {}

  void Install(Regs& regs) override {
    for (unsigned b = 0; b < 3; b++) {
      regs.SetModel(IoBank(b), this);
      regs.SetModel(SysRio(b), this);
      regs.SetModel(Pads(b), this);
    }
    Recompute();
  }

  // Reads through an alias return the register itself.
  uint32_t Read(Block b, uint32_t offset) override { return Get(b, offset & 0xFFF); }

  void Write(Block b, uint32_t offset, uint32_t value) override {
    uint32_t reg = offset & 0xFFF;
    uint32_t cur = Get(b, reg);
    uint32_t v;
    switch (offset & 0x3000) {  // the atomic aliases act on every RP1 register
      case kAliasXor: v = cur ^ value; break;
      case kAliasSet: v = cur | value; break;
      case kAliasClr: v = cur & ~value; break;
      default: v = value; break;
    }
    unsigned kind = static_cast<unsigned>(b);
    if (kind >= static_cast<unsigned>(Block::kSysRio0) && kind <= static_cast<unsigned>(Block::kSysRio2)) {
      if (reg == kRioSyncIn) return;  // read-only input synchroniser
    } else if (kind <= static_cast<unsigned>(Block::kIoBank2)) {
      if ((reg & 7u) == 0) return;  // STATUS is read-only
      if (v & kCtrlIrqReset) {
        // IRQRESET is self-clearing: it drops the latched edge events of this GPIO.
        uint32_t status = reg - 4;
        Set(b, status, Get(b, status) & ~(kStatusEventEdgeLow | kStatusEventEdgeHigh));
        v &= ~kCtrlIrqReset;
      }
    }
    Set(b, reg, v);
    Recompute();
  }

  void Drive(unsigned pin, int level) override {
    if (level < 0) {
      driven_[pin] = false;
    } else {
      driven_[pin] = true;
      driveLevel_[pin] = level != 0;
    }
    Recompute();
  }

 private:
  uint8_t* BlockBase(Block b) const {
    unsigned k = static_cast<unsigned>(b);
    if (k <= static_cast<unsigned>(Block::kIoBank2)) return window_ + kIoBankBase + (k - 1) * kBankStride;
    if (k <= static_cast<unsigned>(Block::kSysRio2)) return window_ + kSysRioBase + (k - 4) * kBankStride;
    return window_ + kPadsBase + (k - 7) * kBankStride;
  }
  uint32_t Get(Block b, uint32_t reg) const {
    uint32_t v;
    std::memcpy(&v, BlockBase(b) + reg, 4);
    return v;
  }
  void Set(Block b, uint32_t reg, uint32_t v) { std::memcpy(BlockBase(b) + reg, &v, 4); }

  void Recompute() {
    for (unsigned bank = 0; bank < 3; bank++) {
      uint32_t out = Get(SysRio(bank), kRioOut), oe = Get(SysRio(bank), kRioOe);
      uint32_t sync = 0;
      for (unsigned i = 0; i < kBankWidth[bank]; i++) {
        unsigned pin = kBankFirst[bank] + i;
        uint32_t bit = 1u << i;
        uint32_t ctrl = Get(IoBank(bank), i * 8 + 4);
        uint32_t pad = Get(Pads(bank), 4 + i * 4);
        bool sysrio = (ctrl & kCtrlFuncselMask) == kFuncselSysRio;
        bool drivingOut = sysrio && (oe & bit);
        bool high;
        if (drivingOut) {
          high = out & bit;
        } else if (driven_[pin]) {
          high = driveLevel_[pin];
        } else {
          high = (pad & kPadPue) != 0;  // pulled up reads 1; pulled down or floating reads 0
        }
        if (high) sync |= bit;
        uint32_t status = Get(IoBank(bank), i * 8);
        bool was = status & kStatusInFromPad;
        if (high && !was) status |= kStatusEventEdgeHigh;
        if (!high && was) status |= kStatusEventEdgeLow;
        status &= ~(kStatusInFromPad | kStatusOutToPad | kStatusOeToPad | kStatusEventLevelLow | kStatusEventLevelHigh);
        if (high)
          status |= kStatusInFromPad | kStatusEventLevelHigh;
        else
          status |= kStatusEventLevelLow;
        if (sysrio && (out & bit)) status |= kStatusOutToPad;
        if (drivingOut) status |= kStatusOeToPad;
        Set(IoBank(bank), i * 8, status);
      }
      Set(SysRio(bank), kRioSyncIn, sync);
    }
  }

  uint8_t* window_;
  bool driven_[kPinCount] = {};
  bool driveLevel_[kPinCount] = {};
};

}  // namespace

std::unique_ptr<GpioModel> MakeRp1GpioModel(uint8_t* window) { return std::make_unique<Rp1GpioModel>(window); }

}  // namespace pc
