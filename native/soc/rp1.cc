#include "soc/rp1.h"

namespace pc {

using namespace rp1;

namespace {
uint32_t CtrlOffset(unsigned index) { return index * 8 + 4; }
uint32_t PadOffset(unsigned index) { return 4 + index * 4; }
}  // namespace

void Rp1::AttachBlocks(uint8_t* window) {
  for (unsigned b = 0; b < 3; b++) {
    regs_.Attach(IoBank(b), window + kIoBankBase + b * kBankStride, kBlockSize);
    regs_.Attach(SysRio(b), window + kSysRioBase + b * kBankStride, kBlockSize);
    regs_.Attach(Pads(b), window + kPadsBase + b * kBankStride, kBlockSize);
  }
}

void Rp1::UpdatePad(unsigned pin, uint32_t mask, uint32_t bits) {
  unsigned bank = BankOf(pin);
  uint32_t off = PadOffset(pin - kBankFirst[bank]);
  uint32_t v = regs_.Read32(Pads(bank), off);
  regs_.Write32(Pads(bank), off, (v & ~mask) | bits);
}

// Order for plain GPIO: pad first (input enabled, output disable cleared), then the direction in
// RIO OE through its atomic alias, then FUNCSEL. Switching FUNCSEL last means the pin changes
// from its old function straight to the final direction, with no glitch through the other one.
void Rp1::SetFunction(unsigned pin, Func f) {
  unsigned bank = BankOf(pin);
  unsigned index = pin - kBankFirst[bank];
  uint32_t bit = 1u << index;
  uint32_t funcsel;
  if (f == Func::kNone) {
    funcsel = kFuncselNull;
  } else {
    UpdatePad(pin, kPadIe | kPadOd, kPadIe);
    if (f == Func::kInput || f == Func::kOutput) {
      regs_.Write32(SysRio(bank), kRioOe + (f == Func::kOutput ? kAliasSet : kAliasClr), bit);
      funcsel = kFuncselSysRio;
    } else {
      funcsel = static_cast<unsigned>(f) - static_cast<unsigned>(Func::kAlt0);
    }
  }
  uint32_t ctrl = regs_.Read32(IoBank(bank), CtrlOffset(index));
  regs_.Write32(IoBank(bank), CtrlOffset(index), (ctrl & ~kCtrlFuncselMask) | funcsel);
}

Func Rp1::GetFunction(unsigned pin) {
  unsigned bank = BankOf(pin);
  unsigned index = pin - kBankFirst[bank];
  uint32_t funcsel = regs_.Read32(IoBank(bank), CtrlOffset(index)) & kCtrlFuncselMask;
  if (funcsel == kFuncselSysRio) {
    bool out = (regs_.Read32(SysRio(bank), kRioOe) >> index) & 1u;
    return out ? Func::kOutput : Func::kInput;
  }
  if (funcsel <= 8) return static_cast<Func>(static_cast<unsigned>(Func::kAlt0) + funcsel);
  return Func::kNone;
}

// PADS PUE/PDE (3.1.5): both bits are written together so "up" also removes a pull-down.
void Rp1::SetPull(unsigned pin, Pull p) {
  uint32_t bits = p == Pull::kUp ? kPadPue : p == Pull::kDown ? kPadPde : 0;
  UpdatePad(pin, kPadPue | kPadPde, bits);
}

void Rp1::SetDrive(unsigned pin, unsigned milliamps) {
  uint32_t code = milliamps <= 2 ? 0 : milliamps <= 4 ? 1 : milliamps <= 8 ? 2 : 3;
  UpdatePad(pin, kPadDriveMask, code << kPadDriveShift);
}

void Rp1::SetSlew(unsigned pin, Slew s) { UpdatePad(pin, kPadSlewFast, s == Slew::kFast ? kPadSlewFast : 0); }

}  // namespace pc
