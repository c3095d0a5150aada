// I2C through the BCM2835-2711 BSC ("Broadcom Serial Controller") registers, the memory-mapped
// alternative to /dev/i2c-N. Every access goes through Regs (block kBsc), so a test can
// assert the exact register sequence from the trace, and the simulated mode runs this same code
// over BscModel. Source: BCM2835 ARM Peripherals, chapter 3 (BSC); BCM2711 Peripherals, chapter 3.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/regs.h"

namespace pc {

// Register offsets (BCM2835 peripherals 3.2).
constexpr uint32_t kC = 0x00, kS = 0x04, kDlen = 0x08, kA = 0x0C, kFifo = 0x10, kDiv = 0x14, kDel = 0x18, kClkt = 0x1C;
// C (control) bits.
constexpr uint32_t kCI2cEn = 1u << 15, kCSt = 1u << 7, kCClear = 3u << 4, kCRead = 1u << 0;
// S (status) bits. CLKT, ERR and DONE are write-1-to-clear.
constexpr uint32_t kSClkt = 1u << 9, kSErr = 1u << 8, kSRxf = 1u << 7, kSTxe = 1u << 6, kSRxd = 1u << 5,
                   kSTxd = 1u << 4, kSRxr = 1u << 3, kSTxw = 1u << 2, kSDone = 1u << 1, kSTa = 1u << 0;
constexpr uint32_t kFifoDepth = 16;

/** Outcome of a transfer: 0, or a positive errno (ENXIO no ACK, ETIMEDOUT clock stretch or stall). */
struct BscResult {
  int err = 0;
  const char* what = "";
};

/** The BSC master: clock set-up and transfers of any length through the 16-byte FIFO. */
class BscMaster {
 public:
  explicit BscMaster(Regs& regs) : regs_(regs) {}

  /**
   * Sets SCL from the real core clock: CDIV = core / scl, rounded up to an even number (the
   * BSC ignores bit 0, so rounding up keeps SCL at or below the request). Also sets the data
   * delays (FEDL = CDIV/16, REDL = CDIV/4, at least 1) and the clock-stretch timeout in SCL
   * cycles (0 disables it). Returns the SCL rate achieved, 0 when out of range.
   */
  uint32_t Configure(uint32_t core_hz, uint32_t scl_hz, uint32_t stretch_timeout_cycles);

  BscResult Write(uint8_t addr, const uint8_t* data, size_t len);
  BscResult Read(uint8_t addr, uint8_t* data, size_t len);
  /**
   * Write then read with a repeated start: the read is queued (DLEN, C with ST|READ) as soon as
   * the write is active (S.TA), so the controller starts it without a stop. Works for writes that
   * fit the FIFO (at most 16 bytes), which is what register-pointer devices need.
   */
  BscResult WriteRead(uint8_t addr, const uint8_t* wdata, size_t wlen, uint8_t* rdata, size_t rlen);

  /** Upper bound of status polls per transfer, so a wedged controller cannot hang a thread. */
  static constexpr uint32_t kMaxPolls = 1u << 20;

 private:
  void Start(uint8_t addr, size_t len);
  BscResult Finish(uint32_t s, uint32_t polls);
  Regs& regs_;
};

}  // namespace pc
