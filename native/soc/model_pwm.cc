#include "soc/model_pwm.h"

#include <cstring>

namespace pc {

uint32_t CmModel::Read(Block, uint32_t offset) {
  uint32_t v;
  std::memcpy(&v, page_ + offset, 4);
  if (offset != kCmPwmCtl) return v;
  // BUSY as it is at this read; a pending stop clears it after the count of reads runs out. The
  // password field reads back as 0.
  bool report = busy_;
  if (busy_ && busy_reads_ > 0 && --busy_reads_ == 0) busy_ = false;
  return (v & 0x00FFFFFFu & ~kCmBusy) | (report ? kCmBusy : 0);
}

void CmModel::Write(Block, uint32_t offset, uint32_t value) {
  if (offset != kCmPwmCtl && offset != kCmPwmDiv) {
    std::memcpy(page_ + offset, &value, 4);
    return;
  }
  if ((value & 0xFF000000u) != kCmPasswd) {
    bad_password++;  // the silicon ignores it
    return;
  }
  uint32_t old;
  std::memcpy(&old, page_ + offset, 4);
  if (offset == kCmPwmDiv) {
    if (busy_) violations++;
    std::memcpy(page_ + offset, &value, 4);
    return;
  }
  bool src_change = ((old ^ value) & 0xF) != 0 || ((old ^ value) & (3u << 9)) != 0;
  if (busy_ && src_change) violations++;
  if (value & kCmKill) {
    kills++;
    running = false;
    if (busy_ && stuck_ != BusyStuck::kAlways) busy_reads_ = 2;
  } else if (value & kCmEnab) {
    busy_ = true;
    busy_reads_ = 0;
    running = true;
    run_src = value & 0xF;
    uint32_t div;
    std::memcpy(&div, page_ + kCmPwmDiv, 4);
    run_divi = (div >> 12) & 0xFFF;
  } else {
    running = false;
    if (busy_ && stuck_ == BusyStuck::kNo) busy_reads_ = 2;
  }
  value &= ~kCmBusy;
  std::memcpy(page_ + offset, &value, 4);
}

uint32_t Rp1PwmModel::Read(Block, uint32_t offset) {
  uint32_t v;
  std::memcpy(&v, page_ + offset, 4);
  return offset == kRp1GlobalCtrl ? v & ~kRp1SetUpdate : v;
}

void Rp1PwmModel::Write(Block, uint32_t offset, uint32_t value) {
  if (offset == kRp1GlobalCtrl && (value & kRp1SetUpdate)) {
    updates++;
    active_global = value & 0xF;
    for (unsigned c = 0; c < 4; c++) {
      std::memcpy(&active_ctrl[c], page_ + Rp1ChanCtrl(c), 4);
      std::memcpy(&active_range[c], page_ + Rp1Range(c), 4);
      std::memcpy(&active_duty[c], page_ + Rp1Duty(c), 4);
    }
    value &= ~kRp1SetUpdate;
  }
  std::memcpy(page_ + offset, &value, 4);
}

}  // namespace pc
