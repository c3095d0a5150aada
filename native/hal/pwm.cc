#include "hal/pwm.h"

#include <cmath>

namespace pc {

namespace {

// PWM pins per family (BCM2835 peripherals 6.2 "Alternative function assignments"; BCM2711
// peripherals 5.3; RP1 peripherals, GPIO function table).
const PwmRoute kBcm2835Routes[] = {
    {12, Func::kAlt0, Block::kPwm0, 0}, {13, Func::kAlt0, Block::kPwm0, 1}, {18, Func::kAlt5, Block::kPwm0, 0},
    {19, Func::kAlt5, Block::kPwm0, 1}, {40, Func::kAlt0, Block::kPwm0, 0}, {41, Func::kAlt0, Block::kPwm0, 1},
    {45, Func::kAlt0, Block::kPwm0, 1},
};
// On the BCM2711, GPIO40/41 ALT0 go to the second block, PWM1.
const PwmRoute kBcm2711Routes[] = {
    {12, Func::kAlt0, Block::kPwm0, 0}, {13, Func::kAlt0, Block::kPwm0, 1}, {18, Func::kAlt5, Block::kPwm0, 0},
    {19, Func::kAlt5, Block::kPwm0, 1}, {40, Func::kAlt0, Block::kPwm1, 0}, {41, Func::kAlt0, Block::kPwm1, 1},
};
const PwmRoute kRp1Routes[] = {
    {12, Func::kAlt0, Block::kRp1Pwm0, 0}, {13, Func::kAlt0, Block::kRp1Pwm0, 1}, {14, Func::kAlt0, Block::kRp1Pwm0, 2},
    {15, Func::kAlt0, Block::kRp1Pwm0, 3}, {18, Func::kAlt3, Block::kRp1Pwm0, 2}, {19, Func::kAlt3, Block::kRp1Pwm0, 3},
};

template <size_t N>
const PwmRoute* Find(const PwmRoute (&table)[N], unsigned pin) {
  for (const PwmRoute& r : table)
    if (r.pin == pin) return &r;
  return nullptr;
}

// Bit of a channel in HwPwm::active_.
uint32_t ActiveBit(const PwmRoute& r) {
  unsigned blk = r.block == Block::kPwm1 ? 1 : 0;
  return 1u << (blk * 4 + r.channel);
}

PwmError Fail(const char* code, std::string msg) { return PwmError{code, std::move(msg)}; }

// Ticks high for a duty over a range; duty 1 is the whole range.
uint64_t DataFor(double duty, uint64_t range) {
  double d = std::llround(duty * static_cast<double>(range));
  return d < 0 ? 0 : static_cast<uint64_t>(d) > range ? range : static_cast<uint64_t>(d);
}

PwmError CheckArgs(double freq_hz, double duty) {
  if (!(freq_hz > 0) || !std::isfinite(freq_hz)) return Fail("EPWM_FREQ", "frequency must be a positive number of Hz");
  if (freq_hz > kMaxOutputHz) return Fail("EPWM_FREQ", "frequency above 25 MHz, beyond what the PWM block can do");
  if (!(duty >= 0 && duty <= 1)) return Fail("EPWM_DUTY", "duty cycle must be within 0..1");
  return {};
}

// Errors closer than this (relative frequency error, or duty as a fraction) are the same error:
// doubles computed two ways differ in the last bits. Two settings that give different
// frequencies differ by far more (relative 1 / (divisor * range), above 1e-10 for any frequency
// of 0.1 Hz or more), so this never merges two different outputs.
constexpr double kSameErr = 1e-12;

// The order of settings: the smaller frequency error, then the smaller duty error (the 1 MHz at
// 0.5 that PLLD/5 with range 100 gives exactly beats PLLD/4 with range 125, which gives 0.504),
// then the longer range (finer steps for a later duty change). True when (ferr, derr, range) is
// better than the best so far.
bool Better(double ferr, double derr, uint64_t range, double best_ferr, double best_derr, uint64_t best_range) {
  if (ferr < best_ferr - kSameErr) return true;
  if (ferr > best_ferr + kSameErr) return false;
  if (derr < best_derr - kSameErr) return true;
  if (derr > best_derr + kSameErr) return false;
  return range > best_range;
}

// Longest period in ticks: BCM RNG is a 32-bit tick count; RP1 RANGE counts ticks - 1.
double MaxRange(Family f) { return f == Family::kRp1 ? 4294967296.0 : 4294967295.0; }

}  // namespace

double OscHz(Family f) { return f == Family::kBcm2711 ? 54e6 : 19.2e6; }
double PlldHz(Family f) { return f == Family::kBcm2711 ? 750e6 : 500e6; }

const PwmRoute* FindRoute(Family f, unsigned pin) {
  switch (f) {
    case Family::kBcm2835: return Find(kBcm2835Routes, pin);
    case Family::kBcm2711: return Find(kBcm2711Routes, pin);
    case Family::kRp1: return Find(kRp1Routes, pin);
  }
  return nullptr;
}

PwmError Solve(Family f, double freq_hz, double duty, uint32_t fixed_src, uint32_t fixed_divi, PwmSolution* out) {
  PwmError e = CheckArgs(freq_hz, duty);
  if (!e.ok()) return e;
  PwmSolution best;
  double best_ferr = INFINITY, best_derr = INFINITY;
  const double max_range = MaxRange(f);
  // One candidate clock. Its period in ticks is clock / freq_hz = x; the achieved frequency
  // clock / r falls as r grows, so on each side of x the error only grows away from it, and the
  // best range of this clock is floor(x) or ceil(x) (not the nearest integer to x: 1/r is not
  // symmetric, e.g. x = 2.45 is closer to 3 in frequency). Both are tried.
  auto consider = [&](uint32_t src, uint32_t divi, double clock) {
    double x = clock / freq_hz;
    double rs[2] = {std::floor(x), std::ceil(x)};
    for (double r : rs) {
      if (r > max_range) r = max_range;
      if (r < 2) continue;
      double got = clock / r;
      double ferr = std::fabs(got - freq_hz) / freq_hz;
      uint64_t data = DataFor(duty, static_cast<uint64_t>(r));
      double derr = std::fabs(static_cast<double>(data) / r - duty);
      if (!Better(ferr, derr, static_cast<uint64_t>(r), best_ferr, best_derr, best.range)) continue;
      best_ferr = ferr;
      best_derr = derr;
      best.src = src;
      best.divi = divi;
      best.clockHz = clock;
      best.range = static_cast<uint64_t>(r);
      best.data = data;
      best.freqHz = got;
    }
  };
  if (f == Family::kRp1) {
    consider(0, 1, kRp1ClockHz);
  } else if (fixed_src != 0) {
    consider(fixed_src, fixed_divi, (fixed_src == kCmSrcPlld ? PlldHz(f) : OscHz(f)) / fixed_divi);
  } else {
    // Oscillator first, divisors ascending: on a full tie (same frequency, duty and range, so the
    // same clock) the first one found stays, the oscillator (the crystal itself, no PLL).
    const uint32_t srcs[2] = {kCmSrcOsc, kCmSrcPlld};
    for (uint32_t src : srcs) {
      double hz = src == kCmSrcPlld ? PlldHz(f) : OscHz(f);
      uint32_t first = static_cast<uint32_t>(std::ceil(hz / kMaxPwmClockHz));
      if (first < 2) first = 2;
      for (uint32_t divi = first; divi <= kMaxDivi; divi++) consider(src, divi, hz / divi);
    }
  }
  // A shared clock gives what it gives; beyond 0.1% the request is refused rather than silently
  // answered with another frequency.
  if (fixed_src != 0 && best.range != 0 && best_ferr > 1e-3) best.range = 0;
  if (best.range == 0) {
    if (fixed_src != 0)
      return Fail("EPWM_CLOCK",
                  "the PWM clock is shared and already runs for another channel; this frequency is out of its reach");
    return Fail("EPWM_FREQ", "no clock divisor and range reach this frequency");
  }
  best.duty = static_cast<double>(best.data) / static_cast<double>(best.range);
  *out = best;
  return {};
}

// Clock manager sequence (BCM2835 peripherals 6.3): every write carries the password in the top
// byte (a write without it is ignored). The documented stop is clearing ENAB and waiting for BUSY
// to clear: the generator finishes its current cycle, so the output stops without a glitch. Only
// then may the divisor or the source change ("to avoid glitches and lock-ups, clock sources and
// setups must not be changed while this flag is set"); the source is set with ENAB clear, and
// ENAB set in a write of its own ("do not change ENAB and the other settings at the same time").
// Returns false when BUSY never cleared, not even after KILL.
bool HwPwm::SetClock(uint32_t src, uint32_t divi) {
  // The stop keeps the source and MASH the clock runs on now (firmware or the kernel may have set
  // them), so the stop itself is not a source change while BUSY.
  uint32_t keep = regs_.Read32(Block::kCm, kCmPwmCtl) & (0xFu | (3u << 9));
  regs_.Write32(Block::kCm, kCmPwmCtl, kCmPasswd | keep);
  if (!WaitClockIdle()) {
    // KILL stops and resets the generator at once, mid-cycle; the datasheet calls it "intended
    // for test/debug only" and warns that it "may cause a glitch on the clock generator output".
    // So it is not the way to stop a healthy clock, only the fallback for one still BUSY after
    // the bound above (e.g. its source stopped, so the cycle never completes): changing the
    // divisor under a BUSY generator risks the lock-up the datasheet warns of, and a glitch on a
    // clock whose channels are disabled (StartBcm disables the channel first, and the clock is
    // only changed when no other channel runs on it) reaches no pin.
    regs_.Write32(Block::kCm, kCmPwmCtl, kCmPasswd | keep | kCmKill);
    if (!WaitClockIdle()) return false;
  }
  regs_.Write32(Block::kCm, kCmPwmDiv, kCmPasswd | (divi << 12));
  regs_.Write32(Block::kCm, kCmPwmCtl, kCmPasswd | src);
  regs_.Write32(Block::kCm, kCmPwmCtl, kCmPasswd | src | kCmEnab);
  clock_src_ = src;
  clock_divi_ = divi;
  return true;
}

bool HwPwm::WaitClockIdle() {
  for (uint32_t polls = 0; (regs_.Read32(Block::kCm, kCmPwmCtl) & kCmBusy) != 0; polls++) {
    if (polls + 1 >= kBusyPolls) return false;
    regs_.DelayUs(1);
  }
  return true;
}

void HwPwm::Adopt() {
  bool tracing = regs_.tracing();
  regs_.SetTracing(false);
  if (family_ == Family::kRp1) {
    uint32_t g = regs_.Read32(Block::kRp1Pwm0, kRp1GlobalCtrl);
    for (const PwmRoute& r : kRp1Routes)
      if ((g >> r.channel) & 1u) active_ |= ActiveBit(r);
  } else {
    // A clock counts as running with ENAB set on one of the two sources this driver uses.
    uint32_t ctl = regs_.Read32(Block::kCm, kCmPwmCtl);
    uint32_t src = ctl & 0xFu, divi = (regs_.Read32(Block::kCm, kCmPwmDiv) >> 12) & 0xFFFu;
    if ((ctl & kCmEnab) != 0 && (src == kCmSrcOsc || src == kCmSrcPlld) && divi >= 2) {
      clock_src_ = src;
      clock_divi_ = divi;
    }
    const PwmRoute* routes = family_ == Family::kBcm2711 ? kBcm2711Routes : kBcm2835Routes;
    size_t n = family_ == Family::kBcm2711 ? sizeof(kBcm2711Routes) / sizeof(PwmRoute)
                                           : sizeof(kBcm2835Routes) / sizeof(PwmRoute);
    for (size_t i = 0; i < n; i++) {
      const PwmRoute& r = routes[i];
      if ((regs_.Read32(r.block, kPwmCtl) >> (8 * r.channel)) & kCtlPwen) active_ |= ActiveBit(r);
    }
  }
  regs_.SetTracing(tracing);
}

PwmError HwPwm::Start(unsigned pin, double freq_hz, double duty, bool inverted, PwmSolution* out) {
  const PwmRoute* r = FindRoute(family_, pin);
  if (r == nullptr) return Fail("EPWM_PIN", "GPIO" + std::to_string(pin) + " has no hardware PWM on this SoC");
  if (family_ == Family::kRp1) return StartRp1(*r, freq_hz, duty, inverted, out);
  return StartBcm(*r, freq_hz, duty, inverted, out);
}

PwmError HwPwm::StartBcm(const PwmRoute& r, double freq_hz, double duty, bool inverted, PwmSolution* out) {
  // The one PWM clock feeds every channel of both blocks: while another channel runs, keep it.
  bool shared = (active_ & ~ActiveBit(r)) != 0 && clock_src_ != 0;
  PwmSolution s;
  PwmError e = Solve(family_, freq_hz, duty, shared ? clock_src_ : 0, shared ? clock_divi_ : 0, &s);
  if (!e.ok()) return e;
  if (s.range > 0xFFFFFFFFull) return Fail("EPWM_FREQ", "range beyond 32 bits");
  unsigned shift = 8 * r.channel;
  uint32_t rng = r.channel == 0 ? kPwmRng1 : kPwmRng2, dat = r.channel == 0 ? kPwmDat1 : kPwmDat2;
  // Disable the channel while its range and data change, so no period mixes old and new values.
  uint32_t ctl = regs_.Read32(r.block, kPwmCtl);
  ctl &= ~(0xFFu << shift);
  regs_.Write32(r.block, kPwmCtl, ctl);
  if (s.src != clock_src_ || s.divi != clock_divi_) {
    if (!SetClock(s.src, s.divi)) return Fail("ETIMEDOUT", "the PWM clock stayed BUSY, even after KILL");
  }
  regs_.Write32(r.block, rng, static_cast<uint32_t>(s.range));
  regs_.Write32(r.block, dat, static_cast<uint32_t>(s.data));
  // Mark-space mode: high for DAT ticks of every RNG, the waveform a frequency and duty describe
  // (the default PWM mode spreads the high ticks over the range instead).
  ctl |= (kCtlMsen | kCtlPwen | (inverted ? kCtlPola : 0)) << shift;
  regs_.Write32(r.block, kPwmCtl, ctl);
  gpio_.SetFunction(r.pin, r.alt);
  active_ |= ActiveBit(r);
  *out = s;
  return {};
}

PwmError HwPwm::StartRp1(const PwmRoute& r, double freq_hz, double duty, bool inverted, PwmSolution* out) {
  PwmSolution s;
  PwmError e = Solve(family_, freq_hz, duty, 0, 0, &s);
  if (!e.ok()) return e;
  unsigned c = r.channel;
  uint32_t ctrl = regs_.Read32(r.block, Rp1ChanCtrl(c));
  // Trailing-edge mark-space, FIFO pop mask set (the channel does not wait on an empty FIFO).
  ctrl = (ctrl & ~(kRp1ModeMask | kRp1Invert)) | kRp1ModeTrailingMs | kRp1FifoPopMask | (inverted ? kRp1Invert : 0);
  regs_.Write32(r.block, Rp1ChanCtrl(c), ctrl);
  // RANGE = n gives a period of n + 1 ticks; the output is high for DUTY ticks.
  regs_.Write32(r.block, Rp1Range(c), static_cast<uint32_t>(s.range - 1));
  regs_.Write32(r.block, Rp1Duty(c), static_cast<uint32_t>(s.data));
  // The channel registers take effect at SET_UPDATE, together with the enable.
  uint32_t g = regs_.Read32(r.block, kRp1GlobalCtrl);
  regs_.Write32(r.block, kRp1GlobalCtrl, (g & ~kRp1SetUpdate) | (1u << c) | kRp1SetUpdate);
  gpio_.SetFunction(r.pin, r.alt);
  active_ |= ActiveBit(r);
  *out = s;
  return {};
}

PwmError HwPwm::Stop(unsigned pin) {
  const PwmRoute* r = FindRoute(family_, pin);
  if (r == nullptr) return Fail("EPWM_PIN", "GPIO" + std::to_string(pin) + " has no hardware PWM on this SoC");
  if (family_ == Family::kRp1) {
    uint32_t g = regs_.Read32(r->block, kRp1GlobalCtrl);
    regs_.Write32(r->block, kRp1GlobalCtrl, (g & ~(1u << r->channel)) | kRp1SetUpdate);
  } else {
    uint32_t ctl = regs_.Read32(r->block, kPwmCtl);
    regs_.Write32(r->block, kPwmCtl, ctl & ~(kCtlPwen << (8 * r->channel)));
  }
  active_ &= ~ActiveBit(*r);
  return {};
}

void HwPwm::StopAll() {
  const unsigned pins[] = {12, 13, 14, 15, 18, 19, 40, 41, 45};
  for (unsigned p : pins) {
    const PwmRoute* r = FindRoute(family_, p);
    if (r != nullptr && (active_ & ActiveBit(*r)) != 0) Stop(p);
  }
}

}  // namespace pc
