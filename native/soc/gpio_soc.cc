#include "soc/gpio_soc.h"

#include "soc/bcm283x.h"
#include "soc/rp1.h"

namespace pc {

std::unique_ptr<GpioSoc> MakeGpioSoc(const std::string& name, Regs& regs) {
  // BCM2835, 2836 and 2837 share the GPIO block bit for bit; only the peripheral base differs,
  // and /dev/gpiomem hides that. The name is kept so errors and traces say which chip it is.
  if (name == "bcm2835") return std::make_unique<Bcm283x>(regs, "bcm2835");
  if (name == "bcm2836") return std::make_unique<Bcm283x>(regs, "bcm2836");
  if (name == "bcm2837") return std::make_unique<Bcm283x>(regs, "bcm2837");
  if (name == "bcm2711") return std::make_unique<Bcm2711>(regs);
  if (name == "rp1") return std::make_unique<Rp1>(regs);
  return nullptr;
}

}  // namespace pc
