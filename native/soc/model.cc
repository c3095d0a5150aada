#include "soc/model.h"

#include "soc/bcm283x.h"
#include "soc/rp1.h"

namespace pc {

std::unique_ptr<GpioModel> MakeGpioModel(const std::string& soc, uint8_t* page, size_t size) {
  if (soc == "rp1") return size >= rp1::kWindowSize ? MakeRp1GpioModel(page) : nullptr;
  if (size < bcm::kBlockSize) return nullptr;
  if (soc == "bcm2835" || soc == "bcm2836" || soc == "bcm2837") return MakeBcmGpioModel(page, false);
  if (soc == "bcm2711") return MakeBcmGpioModel(page, true);
  return nullptr;
}

}  // namespace pc
