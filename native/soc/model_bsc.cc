#include <cstdio>
#include <cstring>

#include "soc/model_bsc.h"

namespace pc {

uint32_t BscModel::Load(uint32_t offset) const {
  uint32_t v;
  std::memcpy(&v, page_ + offset, 4);
  return v;
}

void BscModel::Store(uint32_t offset, uint32_t v) { std::memcpy(page_ + offset, &v, 4); }

uint32_t BscModel::Status() const {
  uint32_t s = 0;
  if (active_) s |= kSTa;
  if (done_) s |= kSDone;
  if (err_) s |= kSErr;
  if (clkt_) s |= kSClkt;
  if (tx_.size() < kFifoDepth) s |= kSTxd;
  if (tx_.empty()) s |= kSTxe;
  if (!rx_.empty()) s |= kSRxd;
  if (rx_.size() == kFifoDepth) s |= kSRxf;
  if (active_ && !reading_ && tx_.size() < kFifoDepth / 4) s |= kSTxw;
  if (active_ && reading_ && rx_.size() >= kFifoDepth * 3 / 4) s |= kSRxr;
  return s;
}

void BscModel::Begin(bool read, bool repeated) {
  addr_ = static_cast<uint8_t>(Load(kA) & 0x7f);
  remaining_ = repeated ? queued_len_ : (Load(kDlen) & 0xffff);
  char ev[16];
  std::snprintf(ev, sizeof(ev), "%s %02x%c", repeated ? "Sr" : "S", addr_, read ? 'R' : 'W');
  log.emplace_back(ev);
  queued_read_ = false;
  reading_ = read;
  done_ = false;
  auto it = devices.find(addr_);
  if (it == devices.end()) {
    // Nobody pulls SDA low in the address's ACK slot: ERR, then the controller stops.
    log.emplace_back("NACK");
    log.emplace_back("P");
    err_ = true;
    done_ = true;
    active_ = false;
    return;
  }
  if (it->second.stretch && (Load(kClkt) & 0xffff) != 0) {
    // SCL held low for longer than CLKT.TOUT SCL cycles.
    log.emplace_back("CLKT");
    clkt_ = true;
    done_ = true;
    active_ = false;
    return;
  }
  active_ = !it->second.stretch;  // a stretch with TOUT 0 never progresses and never finishes
  first_write_ = true;
}

// One bus step per S read: one byte moves, or the transfer ends. Status is computed before the
// step, so each step is visible to the next poll, as on the real bus where a byte takes 9 SCL
// clocks and the CPU polls much faster.
void BscModel::Step() {
  if (!active_) return;
  VirtualDevice& d = devices[addr_];
  if (!reading_) {
    if (remaining_ > 0) {
      if (tx_.empty()) return;  // the controller waits for the CPU to refill the FIFO
      uint8_t b = tx_.front();
      tx_.erase(tx_.begin());
      remaining_--;
      char ev[8];
      std::snprintf(ev, sizeof(ev), "W:%02x", b);
      log.emplace_back(ev);
      if (first_write_)
        d.pointer = b;
      else
        d.regs[d.pointer++] = b;
      first_write_ = false;
      return;
    }
    if (queued_read_) {
      Begin(true, true);  // repeated start: no stop between the write and the read
      return;
    }
  } else if (remaining_ > 0) {
    if (rx_.size() >= kFifoDepth) return;  // the controller stretches until the CPU drains
    uint8_t b = d.regs[d.pointer++];
    rx_.push_back(b);
    remaining_--;
    char ev[8];
    std::snprintf(ev, sizeof(ev), "R:%02x", b);
    log.emplace_back(ev);
    return;
  }
  log.emplace_back("P");
  active_ = false;
  done_ = true;
}

uint32_t BscModel::Read(Block, uint32_t offset) {
  switch (offset) {
    case kS: {
      uint32_t s = Status();
      Step();
      return s;
    }
    case kFifo: {
      if (rx_.empty()) return 0;
      uint8_t b = rx_.front();
      rx_.erase(rx_.begin());
      return b;
    }
    case kC: return Load(kC) & ~kCSt;  // ST is a command bit and reads back 0
    default: return Load(offset);
  }
}

void BscModel::Write(Block, uint32_t offset, uint32_t value) {
  switch (offset) {
    case kC:
      Store(kC, value & ~kCSt);
      if (value & kCClear) {
        tx_.clear();
        rx_.clear();
      }
      if ((value & kCSt) && (value & kCI2cEn)) {
        if (active_ && !reading_ && (value & kCRead)) {
          queued_read_ = true;  // taken at the end of the write: a repeated start
          queued_len_ = Load(kDlen) & 0xffff;
        } else if (!active_) {
          Begin(value & kCRead, false);
        }
      }
      return;
    case kS:
      // CLKT, ERR and DONE are write-1-to-clear; the other bits are read-only.
      if (value & kSClkt) clkt_ = false;
      if (value & kSErr) err_ = false;
      if (value & kSDone) done_ = false;
      return;
    case kFifo:
      if (tx_.size() < kFifoDepth) tx_.push_back(static_cast<uint8_t>(value));
      return;
    default: Store(offset, value);
  }
}

}  // namespace pc
