// GPIO of the RP1 I/O controller on the Pi 5 (RP1 peripherals, chapter 3), through the
// /dev/gpiomem0 window: IO_BANK0-2, SYS_RIO0-2 and PADS_BANK0-2 at fixed offsets.
#pragma once

#include "soc/gpio_soc.h"

namespace pc {
namespace rp1 {

constexpr size_t kWindowSize = 0x30000;  // /dev/gpiomem0
constexpr uint32_t kIoBankBase = 0x00000, kSysRioBase = 0x10000, kPadsBase = 0x20000;
constexpr uint32_t kBankStride = 0x4000;  // bank n of each block at base + n * 0x4000
constexpr size_t kBlockSize = 0x4000;

// Atomic register aliases (RP1 peripherals 2.4): the same register at +0x1000 XORs, +0x2000 sets,
// +0x3000 clears the written bits, in one bus write with no read-modify-write.
constexpr uint32_t kAliasXor = 0x1000, kAliasSet = 0x2000, kAliasClr = 0x3000;

// IO_BANK (3.1.4): per GPIO a STATUS word at 8i and a CTRL word at 8i+4.
constexpr uint32_t kCtrlFuncselMask = 0x1F;  // CTRL 4:0
constexpr uint32_t kFuncselSysRio = 5;       // a5: plain GPIO driven by SYS_RIO
constexpr uint32_t kFuncselNull = 0x1F;
constexpr uint32_t kCtrlIrqReset = 1u << 28;  // write 1: clear the latched edge events
constexpr uint32_t kStatusOutToPad = 1u << 9;
constexpr uint32_t kStatusOeToPad = 1u << 13;
constexpr uint32_t kStatusInFromPad = 1u << 17;
constexpr uint32_t kStatusEventEdgeLow = 1u << 20;   // latched falling edge
constexpr uint32_t kStatusEventEdgeHigh = 1u << 21;  // latched rising edge
constexpr uint32_t kStatusEventLevelLow = 1u << 22;
constexpr uint32_t kStatusEventLevelHigh = 1u << 23;

// SYS_RIO (3.1.3): one bit a pin of the bank.
constexpr uint32_t kRioOut = 0x0, kRioOe = 0x4, kRioSyncIn = 0x8;

// PADS_BANK (3.1.5): VOLTAGE_SELECT at 0, GPIO i at 4 + 4i.
constexpr uint32_t kPadSlewFast = 1u << 0;
constexpr uint32_t kPadSchmitt = 1u << 1;
constexpr uint32_t kPadPde = 1u << 2;
constexpr uint32_t kPadPue = 1u << 3;
constexpr unsigned kPadDriveShift = 4;  // DRIVE 5:4: 0 = 2 mA, 1 = 4 mA, 2 = 8 mA, 3 = 12 mA
constexpr uint32_t kPadDriveMask = 3u << kPadDriveShift;
constexpr uint32_t kPadIe = 1u << 6;
constexpr uint32_t kPadOd = 1u << 7;

constexpr unsigned kBankFirst[3] = {0, 28, 34};
constexpr unsigned kBankWidth[3] = {28, 6, 20};
constexpr unsigned kPinCount = 54;

inline unsigned BankOf(unsigned pin) { return pin < 28 ? 0 : pin < 34 ? 1 : 2; }
inline Block IoBank(unsigned bank) { return static_cast<Block>(static_cast<unsigned>(Block::kIoBank0) + bank); }
inline Block SysRio(unsigned bank) { return static_cast<Block>(static_cast<unsigned>(Block::kSysRio0) + bank); }
inline Block Pads(unsigned bank) { return static_cast<Block>(static_cast<unsigned>(Block::kPads0) + bank); }

}  // namespace rp1

class Rp1 : public GpioSoc {
 public:
  explicit Rp1(Regs& regs) : GpioSoc(regs) {}

  const char* Name() const override { return "rp1"; }
  unsigned PinCount() const override { return rp1::kPinCount; }
  unsigned BankCount() const override { return 3; }
  unsigned BankFirstPin(unsigned bank) const override { return rp1::kBankFirst[bank]; }
  unsigned BankWidth(unsigned bank) const override { return rp1::kBankWidth[bank]; }
  size_t MapSize() const override { return rp1::kWindowSize; }
  void AttachBlocks(uint8_t* window) override;

  bool Supports(Func f) const override { return f != Func::kAlt5; }
  bool HasPadControl() const override { return true; }

  void SetFunction(unsigned pin, Func f) override;
  Func GetFunction(unsigned pin) override;
  // One write of the pin's bit to the SET or CLR alias of the bank's RIO OUT register.
  void Write(unsigned pin, bool high) override {
    unsigned bank = rp1::BankOf(pin);
    regs_.Write32(rp1::SysRio(bank), rp1::kRioOut + (high ? rp1::kAliasSet : rp1::kAliasClr),
                  1u << (pin - rp1::kBankFirst[bank]));
  }
  bool Read(unsigned pin) override {
    unsigned bank = rp1::BankOf(pin);
    return (regs_.Read32(rp1::SysRio(bank), rp1::kRioSyncIn) >> (pin - rp1::kBankFirst[bank])) & 1u;
  }
  void SetMask(unsigned bank, uint32_t mask) override {
    regs_.Write32(rp1::SysRio(bank), rp1::kRioOut + rp1::kAliasSet, mask);
  }
  void ClearMask(unsigned bank, uint32_t mask) override {
    regs_.Write32(rp1::SysRio(bank), rp1::kRioOut + rp1::kAliasClr, mask);
  }
  uint32_t ReadBank(unsigned bank) override { return regs_.Read32(rp1::SysRio(bank), rp1::kRioSyncIn); }
  void SetPull(unsigned pin, Pull p) override;
  void SetDrive(unsigned pin, unsigned milliamps) override;
  void SetSlew(unsigned pin, Slew s) override;
  PinRegs PinRefs(unsigned pin) const override {
    unsigned bank = rp1::BankOf(pin);
    BankRegs b = BankRefs(bank);
    return {b.set, b.clr, b.lev, 1u << (pin - rp1::kBankFirst[bank])};
  }
  BankRegs BankRefs(unsigned bank) const override {
    Block rio = rp1::SysRio(bank);
    return {regs_.Ref(rio, rp1::kRioOut + rp1::kAliasSet), regs_.Ref(rio, rp1::kRioOut + rp1::kAliasClr),
            regs_.Ref(rio, rp1::kRioSyncIn), (1u << rp1::kBankWidth[bank]) - 1};
  }

 private:
  // Read-modify-write of one pin's pad register, changing only the bits in `mask`.
  void UpdatePad(unsigned pin, uint32_t mask, uint32_t bits);
};

}  // namespace pc
