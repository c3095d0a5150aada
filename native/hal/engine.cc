#include "hal/engine.h"

#include <time.h>

#include <algorithm>
#include <chrono>

namespace pc {

uint64_t MonoNs() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000u + static_cast<uint64_t>(ts.tv_nsec);
}

namespace {

inline void CpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__) || (defined(__arm__) && defined(__ARM_ARCH) && __ARM_ARCH >= 7)
  __asm__ __volatile__("yield" ::: "memory");
#endif
}

constexpr uint64_t kIdle = UINT64_MAX;

}  // namespace

Engine::Engine(GpioSoc& soc, GpioModel* model, EngineSink sink) : soc_(soc), model_(model), sink_(std::move(sink)) {}

Engine::~Engine() { Shutdown(); }

void Engine::EnsureThread() {
  if (!thread_.joinable() && !stop_) thread_ = std::thread([this] { Run(); });
}

void Engine::SetSpinNs(uint64_t ns) {
  std::lock_guard<std::mutex> lock(mu_);
  spin_ns_ = ns;
}

void Engine::SetPwm(unsigned pin, uint64_t period_ns, uint64_t high_ns, uint64_t cycles) {
  std::lock_guard<std::mutex> lock(mu_);
  channels_.erase(std::remove_if(channels_.begin(), channels_.end(), [&](const Channel& c) { return c.pin == pin; }),
                  channels_.end());
  soc_.SetFunction(pin, Func::kOutput);
  // Duty 0 or 1 has no edges: a steady level, nothing to schedule.
  if (high_ns == 0 || high_ns >= period_ns) {
    soc_.Write(pin, high_ns != 0);
    return;
  }
  unsigned bank = 0;
  for (unsigned b = 0; b < soc_.BankCount(); b++)
    if (pin >= soc_.BankFirstPin(b)) bank = b;
  Channel c{pin, bank, 1u << (pin - soc_.BankFirstPin(bank)), period_ns, high_ns, cycles, 0, false, cycles != 0};
  // The first rising edge a little ahead, so it is on time rather than late by the wake-up.
  c.next_ns = MonoNs() + 50000;
  soc_.Write(pin, false);
  channels_.push_back(c);
  dirty_ = true;
  EnsureThread();
  cv_.notify_one();
}

void Engine::StopPwm(unsigned pin, int level) {
  std::lock_guard<std::mutex> lock(mu_);
  channels_.erase(std::remove_if(channels_.begin(), channels_.end(), [&](const Channel& c) { return c.pin == pin; }),
                  channels_.end());
  if (level >= 0) soc_.Write(pin, level != 0);
  dirty_ = true;
  cv_.notify_one();
}

bool Engine::RunWave(std::vector<WaveStep> steps, uint32_t repeat) {
  std::lock_guard<std::mutex> lock(mu_);
  if (wave_on_) return false;
  uint32_t pins = 0;
  for (const WaveStep& s : steps) pins |= s.set | s.clear;
  for (unsigned p = 0; p < 32; p++)
    if (pins & (1u << p)) soc_.SetFunction(soc_.BankFirstPin(0) + p, Func::kOutput);
  wave_ = std::move(steps);
  wave_on_ = true;
  wave_i_ = 0;
  wave_repeat_left_ = repeat;
  wave_next_ = MonoNs() + 50000;
  wave_steps_done_ = wave_late_sum_ = wave_late_max_ = 0;
  wave_late_.clear();
  dirty_ = true;
  EnsureThread();
  cv_.notify_one();
  return true;
}

void Engine::Watch(uint32_t mask, uint32_t rising, uint32_t falling, uint64_t debounce_ns, uint64_t poll_ns,
                   bool busy_poll) {
  std::lock_guard<std::mutex> lock(mu_);
  uint32_t level = soc_.ReadBank(0);
  for (unsigned p = 0; p < 32; p++) {
    edge_[p].stable = (level >> p) & 1;
    edge_[p].pending = false;
  }
  watch_mask_ = mask;
  watch_rise_ = rising;
  watch_fall_ = falling;
  debounce_ns_ = debounce_ns;
  poll_ns_ = poll_ns;
  busy_poll_ = busy_poll;
  next_poll_ = MonoNs();
  dirty_ = true;
  EnsureThread();
  cv_.notify_one();
}

void Engine::Unwatch() {
  std::lock_guard<std::mutex> lock(mu_);
  watch_mask_ = 0;
  dirty_ = true;
  cv_.notify_one();
}

uint64_t Engine::SimDrive(unsigned pin, int level) {
  std::lock_guard<std::mutex> lock(mu_);
  uint64_t t = MonoNs();
  if (model_ != nullptr) model_->Drive(pin, level);
  dirty_ = true;
  cv_.notify_one();
  return t;
}

uint32_t Engine::ReadBank0() {
  std::lock_guard<std::mutex> lock(mu_);
  return soc_.ReadBank(0);
}

void Engine::Shutdown() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
    stop_flag_ = true;
    channels_.clear();
    wave_on_ = false;
    watch_mask_ = 0;
    cv_.notify_one();
  }
  if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) thread_.join();
}

void Engine::SetRecordEdges(bool on) {
  std::lock_guard<std::mutex> lock(mu_);
  record_edges_ = on;
  if (!on) std::vector<EdgeRecord>().swap(records_);
}

RecordStats Engine::Stats() {
  std::lock_guard<std::mutex> lock(mu_);
  return RecordStats{edges_made_, records_.size(), records_.capacity() * sizeof(EdgeRecord)};
}

std::vector<EdgeRecord> Engine::TakeRecords() {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<EdgeRecord> out;
  out.swap(records_);
  return out;
}

std::vector<int64_t> Engine::WaveLateness() {
  std::lock_guard<std::mutex> lock(mu_);
  return wave_late_;
}

bool Engine::Busy() {
  std::lock_guard<std::mutex> lock(mu_);
  return !channels_.empty() || wave_on_ || watch_mask_ != 0;
}

void Engine::Record(unsigned pin, bool level, uint64_t due, uint64_t at) {
  if (records_.size() < kRecordLimit) records_.push_back(EdgeRecord{pin, level ? 1u : 0u, due, at});
}

uint64_t Engine::DoDue(uint64_t now, std::vector<PolledEdge>* out, bool* wave_finished, uint64_t* sleep_next) {
  uint64_t next = kIdle;
  *sleep_next = kIdle;
  // Edge polling with debounce: a new level must hold for debounce_ns before it counts; the
  // event carries the time it was first seen. A round that follows a write of a watched pin by
  // this thread (a waveform or PWM pin being watched) polls before it writes again, due or not,
  // so every level the thread makes is sampled at least once, also when the thread catches up
  // after being descheduled and its writes fall due back to back.
  if (watch_mask_ != 0) {
    const bool due = next_poll_ <= now;
    if (due || poll_before_write_) {
      poll_before_write_ = false;
      uint32_t level = soc_.ReadBank(0);
      uint64_t t = MonoNs();
      for (unsigned p = 0; p < 32; p++) {
        if (!(watch_mask_ & (1u << p))) continue;
        EdgeState& e = edge_[p];
        bool raw = (level >> p) & 1;
        if (raw == e.stable) {
          e.pending = false;
          continue;
        }
        if (!e.pending) {
          e.pending = true;
          e.since_ns = t;
        }
        if (t - e.since_ns >= debounce_ns_) {
          e.stable = raw;
          e.pending = false;
          if ((raw && (watch_rise_ & (1u << p))) || (!raw && (watch_fall_ & (1u << p)))) {
            out->push_back(PolledEdge{soc_.BankFirstPin(0) + p, raw, e.since_ns, ++seq_, ++e.seq});
          }
        }
      }
      // Only a scheduled poll moves the schedule; an extra one after a write leaves it as it was.
      if (due) next_poll_ = std::max(next_poll_ + poll_ns_, t + poll_ns_ / 2);
    }
    if (busy_poll_)
      next = std::min(next, next_poll_);
    else
      *sleep_next = next_poll_;
  }
  // Software PWM: one edge per due deadline. A channel that fell more than a period behind (the
  // thread was descheduled) skips the missed periods instead of bursting edges to catch up, so
  // the phase is kept and the output never runs faster than asked.
  for (size_t i = 0; i < channels_.size();) {
    Channel& c = channels_[i];
    if (c.next_ns <= now) {
      if (now - c.next_ns > c.period_ns && !c.level) {
        uint64_t skip = (now - c.next_ns) / c.period_ns;
        c.next_ns += skip * c.period_ns;
      }
      c.level = !c.level;
      if (c.level)
        soc_.SetMask(c.bank, c.bit);
      else
        soc_.ClearMask(c.bank, c.bit);
      // One write per channel a round, so marking it is enough for the next round to poll first.
      if (c.bank == 0 && (c.bit & watch_mask_)) poll_before_write_ = true;
      edges_made_++;
      if (record_edges_) Record(c.pin, c.level, c.next_ns, MonoNs());
      c.next_ns += c.level ? c.high_ns : c.period_ns - c.high_ns;
      if (!c.level && c.counted && --c.cycles_left == 0) {
        channels_.erase(channels_.begin() + static_cast<long>(i));
        continue;
      }
    }
    next = std::min(next, c.next_ns);
    i++;
  }
  // Waveform: the due step; a late step is still executed (a protocol needs every step), and
  // its lateness is recorded.
  while (wave_on_ && wave_next_ <= MonoNs()) {
    const WaveStep& s = wave_[wave_i_];
    if (s.set) soc_.SetMask(0, s.set);
    if (s.clear) soc_.ClearMask(0, s.clear);
    uint64_t at = MonoNs();
    uint64_t late = at - wave_next_;
    wave_steps_done_++;
    wave_late_sum_ += late;
    wave_late_max_ = std::max(wave_late_max_, late);
    if (wave_late_.size() < kRecordLimit) wave_late_.push_back(static_cast<int64_t>(late));
    // The delay counts from when the step actually ran, so a late step never shortens the pulse
    // that follows it: a protocol's minimum widths hold even when the thread was descheduled.
    wave_next_ = at + static_cast<uint64_t>(s.delay_us) * 1000u;
    if (++wave_i_ == wave_.size()) {
      wave_i_ = 0;
      if (wave_repeat_left_ == 0) {
        wave_on_ = false;
        *wave_finished = true;
      } else {
        wave_repeat_left_--;
      }
    }
    // A step that changed a watched pin ends the round, so the poll sees it before the next step.
    if ((s.set | s.clear) & watch_mask_) {
      poll_before_write_ = true;
      break;
    }
  }
  if (wave_on_) next = std::min(next, wave_next_);
  // A watched pin was just written: run the next round (and its poll) at once, not at the next
  // scheduled poll, so the edge is reported now and never waits behind a long poll period.
  if (poll_before_write_) next = std::min(next, now);
  return next;
}

void Engine::Run() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stop_) {
    std::vector<PolledEdge> edges;
    bool wave_finished = false;
    uint64_t sleep_next = kIdle;
    uint64_t next = DoDue(MonoNs(), &edges, &wave_finished, &sleep_next);
    uint64_t steps = wave_steps_done_, late_sum = wave_late_sum_, late_max = wave_late_max_;
    uint64_t spin = spin_ns_;
    dirty_ = false;
    if (!edges.empty() || wave_finished) {
      // Deliver without the lock: the sink queues to JS and must never wait on this engine.
      lock.unlock();
      if (!edges.empty() && sink_.edges) sink_.edges(std::move(edges));
      if (wave_finished && sink_.wave_done) sink_.wave_done(steps, late_sum, late_max);
      lock.lock();
      continue;
    }
    uint64_t now = MonoNs();
    if (next == kIdle && sleep_next == kIdle) {
      cv_.wait(lock, [&] { return stop_ || dirty_; });
      continue;
    }
    // Sleep until the earlier of a plain poll and the start of the spin before a precise deadline.
    uint64_t wake = next == kIdle ? sleep_next : std::min(sleep_next, next > spin ? next - spin : 0);
    if (wake > now) {
      auto until = std::chrono::steady_clock::now() + std::chrono::nanoseconds(wake - now);
      cv_.wait_until(lock, until, [&] { return stop_ || dirty_; });
      continue;
    }
    if (next == kIdle || next <= now) continue;  // a poll is due, or the deadline has come
    // The last stretch: spin without the lock, so commands and simulated inputs get in.
    lock.unlock();
    while (MonoNs() < next && !stop_flag_.load(std::memory_order_relaxed)) CpuRelax();
    lock.lock();
  }
}

}  // namespace pc
