// Hardware PWM: the BCM2835-2837/BCM2711 PWM block(s) fed by the clock manager's PWM clock, and
// the RP1's PWM0 block (Pi 5). Every access goes through Regs, so trace tests see the exact
// register sequence and the simulated mode runs this code over the models below.
// Sources: BCM2835 ARM Peripherals ch. 9 (PWM) and 6.3 (general purpose clocks), BCM2711
// Peripherals ch. 8 and 5.4, RP1 Peripherals (PWM), raspberrypi/linux#6026 (RP1 PWM clock 50 MHz).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "common/regs.h"
#include "soc/gpio_soc.h"

namespace pc {

// BCM PWM block offsets and CTL bits (BCM2835 peripherals 9.6). Channel 2's CTL bits are channel
// 1's shifted left by 8.
constexpr uint32_t kPwmCtl = 0x00, kPwmSta = 0x04, kPwmRng1 = 0x10, kPwmDat1 = 0x14, kPwmRng2 = 0x20, kPwmDat2 = 0x24;
constexpr uint32_t kCtlPwen = 1u << 0, kCtlMode = 1u << 1, kCtlRptl = 1u << 2, kCtlSbit = 1u << 3, kCtlPola = 1u << 4,
                   kCtlUsef = 1u << 5, kCtlClrf = 1u << 6, kCtlMsen = 1u << 7;
// Clock manager: the PWM clock's control and divisor words (BCM2835 peripherals 6.3).
constexpr uint32_t kCmPwmCtl = 0xA0, kCmPwmDiv = 0xA4;
constexpr uint32_t kCmPasswd = 0x5Au << 24;
constexpr uint32_t kCmEnab = 1u << 4, kCmKill = 1u << 5, kCmBusy = 1u << 7;
constexpr uint32_t kCmSrcOsc = 1, kCmSrcPlld = 6;
// RP1 PWM (RP1 peripherals, PWM): global control, and per channel n CTRL/RANGE/PHASE/DUTY.
constexpr uint32_t kRp1GlobalCtrl = 0x00;
constexpr uint32_t kRp1SetUpdate = 1u << 31;
constexpr uint32_t Rp1ChanCtrl(unsigned n) { return 0x14 + 0x10 * n; }
constexpr uint32_t Rp1Range(unsigned n) { return 0x18 + 0x10 * n; }
constexpr uint32_t Rp1Phase(unsigned n) { return 0x1C + 0x10 * n; }
constexpr uint32_t Rp1Duty(unsigned n) { return 0x20 + 0x10 * n; }
constexpr uint32_t kRp1ModeMask = 0x7, kRp1ModeTrailingMs = 0x1, kRp1Invert = 1u << 3, kRp1FifoPopMask = 1u << 8;
constexpr double kRp1ClockHz = 50e6;

// Bounds this code holds itself to. The PWM clock stays at or below 125 MHz (BCM2835 peripherals
// 6.3: the general purpose clocks run up to about 125 MHz at 1.2 V), and the output below 25 MHz
// (pigpio documents >30 MHz as unlikely to work). RANGE of 2 is the smallest that has a duty.
constexpr double kMaxPwmClockHz = 125e6;
constexpr double kMaxOutputHz = 25e6;
constexpr uint32_t kMaxDivi = 4095;
// Upper bound of BUSY polls when stopping the PWM clock, 1 us apart. A stop requested by
// clearing ENAB lets the current cycle of the divided clock finish: at most 4095 cycles of the
// 19.2 MHz oscillator, 213 us, so 1000 polls (at least 1 ms) leave it a margin of five.
constexpr uint32_t kBusyPolls = 1000;

enum class Family : uint8_t { kBcm2835, kBcm2711, kRp1 };

// One PWM output: which pin, through which ALT function, to which block and channel.
struct PwmRoute {
  unsigned pin;
  Func alt;
  Block block;
  unsigned channel;  // 0-based
};

// What a request resolves to: clock source and divisor (BCM), range and data, and what they give.
struct PwmSolution {
  uint32_t src = 0;    // CM source (BCM); 0 on RP1
  uint32_t divi = 1;   // CM integer divisor (BCM); 1 on RP1
  double clockHz = 0;  // the PWM clock the divisor gives
  uint64_t range = 0;  // period in PWM clock ticks
  uint64_t data = 0;   // high ticks
  double freqHz = 0;   // achieved frequency
  double duty = 0;     // achieved duty, 0..1
};

struct PwmError {
  const char* code = nullptr;  // nullptr: no error
  std::string message;
  bool ok() const { return code == nullptr; }
};

/** Oscillator and PLLD rates of a family (BCM2711: 54 MHz and 750 MHz; 2835-2837: 19.2 and 500). */
double OscHz(Family f);
double PlldHz(Family f);

/** The PWM routes of a family (pin, ALT, block, channel). */
const PwmRoute* FindRoute(Family f, unsigned pin);

/**
 * The closest settings for `freq_hz` and `duty`: over both CM sources and every integer divisor
 * (MASH 0: a fractional divisor adds jitter) and every range, the smallest frequency error, then
 * the smallest duty error, then the longest range (finest duty steps); on a full tie the
 * oscillator before PLLD and the smaller divisor. Errors within 1e-12 count as equal. When
 * `fixed_src` is non-zero the clock is taken as it is (another channel runs on it) and only the
 * range is chosen. Checks nothing about the pin.
 */
PwmError Solve(Family f, double freq_hz, double duty, uint32_t fixed_src, uint32_t fixed_divi, PwmSolution* out);

/** Programs hardware PWM over Regs. One per open controller; not thread-safe (the caller locks). */
class HwPwm {
 public:
  HwPwm(Family f, Regs& regs, GpioSoc& gpio) : family_(f), regs_(regs), gpio_(gpio) { Adopt(); }

  /**
   * Starts (or retunes) PWM on `pin`: clock (BCM, when it must change), range, data, mode and
   * polarity, channel enable, then the pin's ALT function last, so the pin never outputs a
   * half-configured channel. All checks come first; on an error nothing is written.
   */
  PwmError Start(unsigned pin, double freq_hz, double duty, bool inverted, PwmSolution* out);
  /** Stops the channel of `pin` (PWEN / CHANn_EN cleared); the pin's function stays. */
  PwmError Stop(unsigned pin);
  /** Stops every channel this object started or adopted; the clock keeps running. */
  void StopAll();

 private:
  PwmError StartBcm(const PwmRoute& r, double freq_hz, double duty, bool inverted, PwmSolution* out);
  PwmError StartRp1(const PwmRoute& r, double freq_hz, double duty, bool inverted, PwmSolution* out);
  bool SetClock(uint32_t src, uint32_t divi);
  // Polls BUSY (kBusyPolls reads at most, 1 us apart); true once it reads clear.
  bool WaitClockIdle();
  // Takes over what the registers show running (a previous process, the firmware): enabled
  // channels and, on BCM, the PWM clock's source and divisor. Without it a restarted driver would
  // think the shared clock free and retune it under a channel still running. Reads only, untraced.
  void Adopt();

  Family family_;
  Regs& regs_;
  GpioSoc& gpio_;
  // Channels this object has enabled: bit (block index * 4 + channel).
  uint32_t active_ = 0;
  // The PWM clock as this object set it; 0 when not set yet.
  uint32_t clock_src_ = 0, clock_divi_ = 0;
};

}  // namespace pc
