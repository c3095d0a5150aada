#include "soc/bcm283x.h"

namespace pc {

using namespace bcm;

// GPFSELn holds pins 10n..10n+9, 3 bits each. Read-modify-write only this pin's 3 bits: the
// other nine pins of the register may belong to someone else (the kernel, another process).
void Bcm283x::SetFunction(unsigned pin, Func f) {
  uint32_t code = f == Func::kInput    ? kFselInput
                  : f == Func::kOutput ? kFselOutput
                                       : kFselAlt[static_cast<unsigned>(f) - static_cast<unsigned>(Func::kAlt0)];
  uint32_t reg = kGpfsel0 + (pin / 10) * 4;
  unsigned shift = (pin % 10) * 3;
  uint32_t v = regs_.Read32(Block::kGpio, reg);
  v = (v & ~(7u << shift)) | (code << shift);
  regs_.Write32(Block::kGpio, reg, v);
}

Func Bcm283x::GetFunction(unsigned pin) {
  uint32_t v = regs_.Read32(Block::kGpio, kGpfsel0 + (pin / 10) * 4);
  uint32_t code = (v >> ((pin % 10) * 3)) & 7u;
  if (code == kFselInput) return Func::kInput;
  if (code == kFselOutput) return Func::kOutput;
  for (unsigned i = 0; i < 6; i++) {
    if (kFselAlt[i] == code) return static_cast<Func>(static_cast<unsigned>(Func::kAlt0) + i);
  }
  return Func::kInput;  // unreachable: all eight codes are covered
}

// BCM2835 peripherals 6.1, GPPUDCLKn: the pull control is clocked into the pins selected in
// GPPUDCLK. Sequence: write GPPUD, wait (set-up), assert the pin's clock bit, wait (hold), then
// remove the control signal and the clock. The pull state cannot be read back on these chips.
void Bcm283x::SetPull(unsigned pin, Pull p) {
  uint32_t code = p == Pull::kUp ? kGppudUp : p == Pull::kDown ? kGppudDown : kGppudOff;
  uint32_t clk = kGppudclk0 + (pin >> 5) * kBankStride;
  regs_.Write32(Block::kGpio, kGppud, code);
  regs_.DelayUs(kPudWaitUs);
  regs_.Write32(Block::kGpio, clk, 1u << (pin & 31));
  regs_.DelayUs(kPudWaitUs);
  regs_.Write32(Block::kGpio, kGppud, kGppudOff);
  regs_.Write32(Block::kGpio, clk, 0);
}

// BCM2711 peripherals 5.2, GPIO_PUP_PDN_CNTRL_REGn: 2 bits a pin, 16 pins a register, applied
// directly (no clocking) and readable. Read-modify-write only this pin's two bits.
void Bcm2711::SetPull(unsigned pin, Pull p) {
  uint32_t code = p == Pull::kUp ? kPupPdnUp : p == Pull::kDown ? kPupPdnDown : kPupPdnNone;
  uint32_t reg = kPupPdnCntrl0 + (pin >> 4) * 4;
  unsigned shift = (pin & 15) * 2;
  uint32_t v = regs_.Read32(Block::kGpio, reg);
  v = (v & ~(3u << shift)) | (code << shift);
  regs_.Write32(Block::kGpio, reg, v);
}

}  // namespace pc
