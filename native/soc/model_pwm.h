// Behavioural models of the PWM clock (BCM clock manager) and of RP1 PWM0 for the simulated mode,
// so hal/pwm.cc runs unchanged off a Pi and its register sequences can be checked.
#pragma once

#include <cstdint>

#include "common/regs.h"
#include "hal/pwm.h"

namespace pc {

/** A clock generator that does not stop (for the tests of the KILL fallback). */
enum class BusyStuck : uint8_t {
  kNo,         // BUSY clears two reads after ENAB is cleared or KILL is set
  kUntilKill,  // clearing ENAB never clears BUSY; KILL does
  kAlways,     // BUSY never clears once the clock ran
};

/**
 * Model of the clock manager's PWM clock for the simulated mode. A write without the password is
 * ignored (as the silicon does) and counted; BUSY follows ENAB, and after KILL or ENAB cleared it
 * stays set for two more reads, so a driver that does not wait is caught: changing the source or
 * the divisor while BUSY is counted as a violation (the datasheet's glitch/lock-up warning).
 * `stuck` makes the generator ignore the stop (see BusyStuck).
 */
class CmModel : public BlockModel {
 public:
  explicit CmModel(uint8_t* page, BusyStuck stuck = BusyStuck::kNo) : page_(page), stuck_(stuck) {}
  uint32_t Read(Block b, uint32_t offset) override;
  void Write(Block b, uint32_t offset, uint32_t value) override;
  uint32_t violations = 0, bad_password = 0;
  uint32_t kills = 0;  // writes with KILL set
  bool running = false;
  uint32_t run_src = 0, run_divi = 0;  // what the clock runs on, latched when ENAB is set

 private:
  uint8_t* page_;
  BusyStuck stuck_;
  bool busy_ = false;
  int busy_reads_ = 0;
};

/**
 * Model of RP1 PWM0: channel registers take effect only when GLOBAL_CTRL.SET_UPDATE is written
 * (the bit reads back 0), so the model keeps the active copy a test computes the output from.
 */
class Rp1PwmModel : public BlockModel {
 public:
  explicit Rp1PwmModel(uint8_t* page) : page_(page) {}
  uint32_t Read(Block b, uint32_t offset) override;
  void Write(Block b, uint32_t offset, uint32_t value) override;
  // Active (latched) copies: global enable bits, per channel CTRL/RANGE/DUTY.
  uint32_t active_global = 0, active_ctrl[4] = {}, active_range[4] = {}, active_duty[4] = {};
  uint32_t updates = 0;

 private:
  uint8_t* page_;
};

}  // namespace pc
