// Behavioural models of the GPIO blocks: the simulated mode. A model sits under Regs (it is the
// BlockModel of the chip's blocks), so the real SoC code in bcm283x.cc / rp1.cc runs over it
// unchanged. Its register state lives in a backing page (anonymous memory or a file, mapped like
// the device), so a test can read the exact bits from the file.
//
// What the models do:
//   BCM: GPSET/GPCLR change a hidden output latch; GPLEV shows the latch for output pins and the
//        driven or pulled level for the others; GPPUD + a GPPUDCLK bit latch the pin's pull
//        (2835-2837), GPIO_PUP_PDN_CNTRL sets it directly (2711); GPEDS latches edges and levels
//        as enabled in GPREN/GPFEN/GPHEN/GPLEN/GPAREN/GPAFEN and is write-1-to-clear.
//   RP1: the +0x1000/0x2000/0x3000 aliases XOR/SET/CLR atomically on every block; SYNC_IN shows
//        OUT for SYS_RIO pins with OE set, otherwise the driven or pulled (PADS PUE/PDE) level;
//        STATUS shows the pad level and latches edges until CTRL.IRQRESET is written.
// An input that is neither driven nor pulled reads 0 (a real floating pin reads noise). Reset
// values are all zero (the page as given), not the chips' power-on pulls.
//
// Later peripherals (PWM, clock manager, BSC) add their own BlockModel for their blocks.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "common/regs.h"

namespace pc {

class GpioModel : public BlockModel {
 public:
  // Connects this model under `regs` for its blocks (the SoC must have attached them already).
  virtual void Install(Regs& regs) = 0;
  // What the outside world does to a pin: level 0 or 1 drives it, -1 releases it (then the
  // pull decides). Recomputes levels and latches any edge this causes.
  virtual void Drive(unsigned pin, int level) = 0;
};

// The model for a SoC name, over `page` (the gpiomem-sized backing memory), or nullptr.
std::unique_ptr<GpioModel> MakeGpioModel(const std::string& soc, uint8_t* page, size_t size);

// The per-family models (model_bcm.cc, model_rp1.cc); MakeGpioModel chooses between them.
std::unique_ptr<GpioModel> MakeBcmGpioModel(uint8_t* page, bool is2711);
std::unique_ptr<GpioModel> MakeRp1GpioModel(uint8_t* window);

}  // namespace pc
