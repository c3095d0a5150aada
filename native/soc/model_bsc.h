// Behavioural model of a BSC (I2C) controller with virtual devices behind it, for the simulated
// mode: hal/bsc.cc runs over it unchanged.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "common/regs.h"
#include "hal/bsc.h"

namespace pc {

/** A virtual device behind the model: 256 byte registers with a register pointer. */
struct VirtualDevice {
  uint8_t regs[256] = {};
  uint8_t pointer = 0;
  /** Hold SCL low forever (clock stretching the controller must time out on). */
  bool stretch = false;
};

/**
 * Behavioural model of one BSC controller for the simulated mode. The bus "runs" when S is read:
 * each S read moves the bytes waiting in the TX FIFO to the device, or fills the RX FIFO from
 * it, so polling loops see a transfer progress in a deterministic number of reads. A missing
 * device sets ERR (no ACK); a stretching device sets CLKT when CLKT.TOUT is non-zero.
 */
class BscModel : public BlockModel {
 public:
  explicit BscModel(uint8_t* page) : page_(page) {}
  uint32_t Read(Block b, uint32_t offset) override;
  void Write(Block b, uint32_t offset, uint32_t value) override;

  std::map<uint8_t, VirtualDevice> devices;
  /** Bus events for tests: "S" start, "Sr" repeated start, "P" stop, "W:xx", "R:xx", "NACK", "CLKT". */
  std::vector<std::string> log;

 private:
  void Store(uint32_t offset, uint32_t v);
  uint32_t Load(uint32_t offset) const;
  void Begin(bool read, bool repeated);
  void Step();
  uint32_t Status() const;

  uint8_t* page_;
  std::vector<uint8_t> tx_, rx_;
  bool active_ = false, reading_ = false, done_ = false, err_ = false, clkt_ = false;
  uint32_t remaining_ = 0;
  uint8_t addr_ = 0;
  // A read queued while a write is active: started with a repeated start when the write ends.
  bool queued_read_ = false;
  uint32_t queued_len_ = 0;
  bool first_write_ = false;  // the next written byte sets the device's register pointer
};

}  // namespace pc
