// Behavioural model of the BCM2835-2837 and BCM2711 GPIO block (see model.h).
#include <cstring>

#include "soc/bcm283x.h"
#include "soc/model.h"

namespace pc {

using namespace bcm;

namespace {

class BcmGpioModel : public GpioModel {
 public:
  BcmGpioModel(uint8_t* page, bool is2711) : page_(page), is2711_(is2711) {}

  void Install(Regs& regs) override {
    regs.SetModel(Block::kGpio, this);
    // A page that already holds state (a file reopened by a new process) keeps its outputs: on the
    // chip the output latch outlives the process that wrote it, and GPLEV of an output pin shows
    // that latch, so the hidden latch is seeded from GPLEV for every pin whose function is output.
    unsigned pins = is2711_ ? 58 : 54;
    for (unsigned pin = 0; pin < pins; pin++) {
      uint32_t fsel = (Get(kGpfsel0 + (pin / 10) * 4) >> ((pin % 10) * 3)) & 7u;
      uint32_t bit = 1u << (pin & 31);
      if (fsel == kFselOutput && (Get(kGplev0 + (pin >> 5) * 4) & bit)) latch_[pin >> 5] |= bit;
    }
    Recompute();
  }

  uint32_t Read(Block, uint32_t offset) override {
    // GPSET/GPCLR (and GPPUD on 2711, which has none) are write-only: they read as 0.
    if (IsWriteOnly(offset)) return 0;
    return Get(offset);
  }

  void Write(Block, uint32_t offset, uint32_t value) override {
    if (offset == kGpset0 || offset == kGpset0 + 4) {
      latch_[(offset - kGpset0) / 4] |= value;
    } else if (offset == kGpclr0 || offset == kGpclr0 + 4) {
      latch_[(offset - kGpclr0) / 4] &= ~value;
    } else if (offset == kGplev0 || offset == kGplev0 + 4) {
      return;  // read-only
    } else if (offset == kGpeds0 || offset == kGpeds0 + 4) {
      Set(offset, Get(offset) & ~value);  // write 1 to clear; level detects re-assert below
    } else if (!is2711_ && (offset == kGppudclk0 || offset == kGppudclk0 + 4)) {
      // The pull control in GPPUD is clocked into every pin whose clock bit is written as 1.
      unsigned bank = (offset - kGppudclk0) / 4;
      uint32_t ctl = Get(kGppud) & 3u;
      pullUp_[bank] = ctl == kGppudUp ? (pullUp_[bank] | value) : (pullUp_[bank] & ~value);
      pullDown_[bank] = ctl == kGppudDown ? (pullDown_[bank] | value) : (pullDown_[bank] & ~value);
      Set(offset, value);
    } else {
      Set(offset, value);  // GPFSEL, the detect enables, GPPUD, GPIO_PUP_PDN_CNTRL, others
    }
    Recompute();
  }

  void Drive(unsigned pin, int level) override {
    unsigned bank = pin >> 5;
    uint32_t bit = 1u << (pin & 31);
    if (level < 0) {
      driven_[bank] &= ~bit;
    } else {
      driven_[bank] |= bit;
      driveLevel_[bank] = level ? (driveLevel_[bank] | bit) : (driveLevel_[bank] & ~bit);
    }
    Recompute();
  }

 private:
  bool IsWriteOnly(uint32_t offset) const {
    return offset == kGpset0 || offset == kGpset0 + 4 || offset == kGpclr0 || offset == kGpclr0 + 4;
  }
  uint32_t Get(uint32_t offset) const {
    uint32_t v;
    std::memcpy(&v, page_ + offset, 4);
    return v;
  }
  void Set(uint32_t offset, uint32_t v) { std::memcpy(page_ + offset, &v, 4); }

  // Pull of one pin: from the latched GPPUD state (2835-2837) or GPIO_PUP_PDN_CNTRL (2711).
  int PullLevel(unsigned pin) const {
    if (is2711_) {
      uint32_t code = (Get(kPupPdnCntrl0 + (pin >> 4) * 4) >> ((pin & 15) * 2)) & 3u;
      return code == kPupPdnUp ? 1 : code == kPupPdnDown ? 0 : -1;
    }
    uint32_t bit = 1u << (pin & 31);
    if (pullUp_[pin >> 5] & bit) return 1;
    if (pullDown_[pin >> 5] & bit) return 0;
    return -1;
  }

  // New levels from functions, latch, drives and pulls; edges and levels latched into GPEDS.
  void Recompute() {
    unsigned pins = is2711_ ? 58 : 54;
    for (unsigned bank = 0; bank < 2; bank++) {
      uint32_t level = 0;
      unsigned first = bank * 32, last = bank == 0 ? 32 : pins;
      for (unsigned pin = first; pin < last; pin++) {
        uint32_t bit = 1u << (pin & 31);
        uint32_t fsel = (Get(kGpfsel0 + (pin / 10) * 4) >> ((pin % 10) * 3)) & 7u;
        bool high;
        if (fsel == kFselOutput) {
          high = latch_[bank] & bit;
        } else if (driven_[bank] & bit) {
          high = driveLevel_[bank] & bit;
        } else {
          high = PullLevel(pin) == 1;
        }
        if (high) level |= bit;
      }
      uint32_t old = Get(kGplev0 + bank * 4);
      uint32_t rose = level & ~old, fell = ~level & old;
      uint32_t eds = Get(kGpeds0 + bank * 4);
      eds |= rose & (Get(kGpren0 + bank * 4) | Get(kGparen0 + bank * 4));
      eds |= fell & (Get(kGpfen0 + bank * 4) | Get(kGpafen0 + bank * 4));
      eds |= (level & Get(kGphen0 + bank * 4)) | (~level & Get(kGplen0 + bank * 4));
      uint32_t valid = last - first == 32 ? ~0u : (1u << (last - first)) - 1;
      Set(kGplev0 + bank * 4, level);
      Set(kGpeds0 + bank * 4, eds & valid);
    }
  }

  uint8_t* page_;
  bool is2711_;
  uint32_t latch_[2] = {0, 0};   // output latch (GPSET/GPCLR), not readable on the chip
  uint32_t driven_[2] = {0, 0};  // pins driven from outside
  uint32_t driveLevel_[2] = {0, 0};
  uint32_t pullUp_[2] = {0, 0};  // 2835-2837: pulls latched by GPPUDCLK, not readable
  uint32_t pullDown_[2] = {0, 0};
};

}  // namespace

std::unique_ptr<GpioModel> MakeBcmGpioModel(uint8_t* page, bool is2711) {
  return std::make_unique<BcmGpioModel>(page, is2711);
}

}  // namespace pc
