// GPIO of the BCM2835 family (BCM2835 peripherals, chapter 6) and of the BCM2711, which keeps the
// same register map but replaces the GPPUD/GPPUDCLK pull sequence (BCM2711 peripherals, 5.2).
#pragma once

#include "soc/gpio_soc.h"

namespace pc {
namespace bcm {

// Offsets inside the GPIO block (BCM2835 peripherals 6.1, table "GPIO register assignment").
constexpr uint32_t kGpfsel0 = 0x00;       // GPFSEL0-5: 3 bits a pin, 10 pins a register
constexpr uint32_t kGpset0 = 0x1C;        // GPSET0/1: write 1 to drive high
constexpr uint32_t kGpclr0 = 0x28;        // GPCLR0/1: write 1 to drive low
constexpr uint32_t kGplev0 = 0x34;        // GPLEV0/1: pin levels
constexpr uint32_t kGpeds0 = 0x40;        // GPEDS0/1: event detect status, write 1 to clear
constexpr uint32_t kGpren0 = 0x4C;        // rising edge detect enable
constexpr uint32_t kGpfen0 = 0x58;        // falling edge detect enable
constexpr uint32_t kGphen0 = 0x64;        // high level detect enable
constexpr uint32_t kGplen0 = 0x70;        // low level detect enable
constexpr uint32_t kGparen0 = 0x7C;       // asynchronous rising edge detect enable
constexpr uint32_t kGpafen0 = 0x88;       // asynchronous falling edge detect enable
constexpr uint32_t kGppud = 0x94;         // 2835-2837: pull-up/down control (6.1, GPPUD)
constexpr uint32_t kGppudclk0 = 0x98;     // 2835-2837: pull-up/down clock 0/1
constexpr uint32_t kPupPdnCntrl0 = 0xE4;  // 2711: GPIO_PUP_PDN_CNTRL_REG0-3 (BCM2711 5.2)
constexpr size_t kBlockSize = 0x1000;     // /dev/gpiomem maps this one page
constexpr uint32_t kBankStride = 4;       // second word of the 2-word registers

// GPFSEL function codes (6.1, GPFSELn): note ALT4/ALT5 are 011/010, not in numeric order.
constexpr uint32_t kFselInput = 0b000;
constexpr uint32_t kFselOutput = 0b001;
constexpr uint32_t kFselAlt[6] = {0b100, 0b101, 0b110, 0b111, 0b011, 0b010};

// GPPUD values (2835-2837) and GPIO_PUP_PDN_CNTRL values (2711): up and down are swapped.
constexpr uint32_t kGppudOff = 0, kGppudDown = 1, kGppudUp = 2;
constexpr uint32_t kPupPdnNone = 0, kPupPdnUp = 1, kPupPdnDown = 2;
// Set-up and hold time of the GPPUD control: the datasheet asks for 150 cycles; like the
// vendor's pinctrl we wait 10 us, which covers 150 cycles of any core clock.
constexpr uint32_t kPudWaitUs = 10;

}  // namespace bcm

class Bcm283x : public GpioSoc {
 public:
  Bcm283x(Regs& regs, const char* name) : GpioSoc(regs), name_(name) {}

  const char* Name() const override { return name_; }
  unsigned PinCount() const override { return 54; }
  unsigned BankCount() const override { return 2; }
  unsigned BankFirstPin(unsigned bank) const override { return bank * 32; }
  unsigned BankWidth(unsigned bank) const override { return bank == 0 ? 32 : PinCount() - 32; }
  size_t MapSize() const override { return bcm::kBlockSize; }
  void AttachBlocks(uint8_t* window) override { regs_.Attach(Block::kGpio, window, bcm::kBlockSize); }

  bool Supports(Func f) const override { return f <= Func::kAlt5; }
  void SetFunction(unsigned pin, Func f) override;
  Func GetFunction(unsigned pin) override;
  void Write(unsigned pin, bool high) override {
    regs_.Write32(Block::kGpio, (high ? bcm::kGpset0 : bcm::kGpclr0) + (pin >> 5) * bcm::kBankStride, 1u << (pin & 31));
  }
  bool Read(unsigned pin) override {
    return (regs_.Read32(Block::kGpio, bcm::kGplev0 + (pin >> 5) * bcm::kBankStride) >> (pin & 31)) & 1u;
  }
  void SetMask(unsigned bank, uint32_t mask) override {
    regs_.Write32(Block::kGpio, bcm::kGpset0 + bank * bcm::kBankStride, mask);
  }
  void ClearMask(unsigned bank, uint32_t mask) override {
    regs_.Write32(Block::kGpio, bcm::kGpclr0 + bank * bcm::kBankStride, mask);
  }
  uint32_t ReadBank(unsigned bank) override {
    return regs_.Read32(Block::kGpio, bcm::kGplev0 + bank * bcm::kBankStride);
  }
  void SetPull(unsigned pin, Pull p) override;
  PinRegs PinRefs(unsigned pin) const override {
    uint32_t bank = (pin >> 5) * bcm::kBankStride;
    return {regs_.Ref(Block::kGpio, bcm::kGpset0 + bank), regs_.Ref(Block::kGpio, bcm::kGpclr0 + bank),
            regs_.Ref(Block::kGpio, bcm::kGplev0 + bank), 1u << (pin & 31)};
  }
  BankRegs BankRefs(unsigned bank) const override {
    uint32_t off = bank * bcm::kBankStride;
    unsigned width = BankWidth(bank);
    return {regs_.Ref(Block::kGpio, bcm::kGpset0 + off), regs_.Ref(Block::kGpio, bcm::kGpclr0 + off),
            regs_.Ref(Block::kGpio, bcm::kGplev0 + off), width >= 32 ? ~0u : (1u << width) - 1};
  }

 private:
  const char* name_;
};

class Bcm2711 : public Bcm283x {
 public:
  explicit Bcm2711(Regs& regs) : Bcm283x(regs, "bcm2711") {}
  unsigned PinCount() const override { return 58; }
  void SetPull(unsigned pin, Pull p) override;
};

}  // namespace pc
