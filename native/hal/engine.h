// The timing thread: software PWM on any pins, waveforms (set mask / clear mask / delay steps) and
// polled edge detection, all run by one native thread per engine over the GPIO registers, with no
// JS in the loop. Every edge the thread makes is timestamped (scheduled and actual time), so a test
// or benchmark computes achieved frequency, duty and lateness from the record.
//
// Waiting: the thread sleeps on a condition variable until `spin_ns` before the next deadline and
// busy-waits the rest (a sleep wakes tens of microseconds late on a loaded or virtual machine; a
// spin hits the deadline to within a clock read). With nothing scheduled it sleeps until work
// arrives, so an idle engine costs no CPU, and the spinning is bounded by the work given.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "soc/gpio_soc.h"
#include "soc/model.h"

namespace pc {

uint64_t MonoNs();

/** One edge the thread made: pin, new level, when it was due and when the register was written. */
struct EdgeRecord {
  uint32_t pin;
  uint32_t level;
  uint64_t due_ns;
  uint64_t at_ns;
};

/** One edge event seen by polling, in the shape of the kernel backend's events. */
struct PolledEdge {
  uint32_t pin;
  bool rising;
  uint64_t timestamp_ns;
  uint64_t seqno, line_seqno;
};

/** A waveform step: set these bank-0 pins, clear those, then wait `delay_us`. */
struct WaveStep {
  uint32_t set;
  uint32_t clear;
  uint32_t delay_us;
};

/** How many PWM edges the thread made, and how many of them the record holds (and its memory). */
struct RecordStats {
  uint64_t made;
  uint64_t held;
  uint64_t held_bytes;
};

/** What the engine reports to its owner (called on the engine thread, with no lock held). */
struct EngineSink {
  std::function<void(std::vector<PolledEdge>&&)> edges;
  std::function<void(uint64_t steps, uint64_t late_ns_sum, uint64_t late_ns_max)> wave_done;
};

class Engine {
 public:
  static constexpr size_t kRecordLimit = size_t{1} << 19;

  /** `soc` and `model` (may be null) are used only under the engine's lock. */
  Engine(GpioSoc& soc, GpioModel* model, EngineSink sink);
  ~Engine();

  /** Starts or retunes software PWM on `pin` (already validated); cycles 0 = until stopped. */
  void SetPwm(unsigned pin, uint64_t period_ns, uint64_t high_ns, uint64_t cycles);
  /** Stops PWM on `pin` and leaves it at `level` (0/1), or as it is when level < 0. */
  void StopPwm(unsigned pin, int level);
  /** Runs a waveform on bank-0 pins (set as outputs first); false when one is running. */
  bool RunWave(std::vector<WaveStep> steps, uint32_t repeat);
  /**
   * Watches bank-0 `mask` for edges: rising/falling masks, debounce and poll period. Polls sleep
   * between reads unless `busy_poll`, which spins up to each poll like a PWM edge (lower latency
   * for as long as the watch lasts, at the cost of a core).
   */
  void Watch(uint32_t mask, uint32_t rising, uint32_t falling, uint64_t debounce_ns, uint64_t poll_ns, bool busy_poll);
  void Unwatch();
  /** Simulated input change (model only); returns when it was applied. */
  uint64_t SimDrive(unsigned pin, int level);
  /** Stops the thread and forgets all work; outputs stay as they are. Idempotent. */
  void Shutdown();

  void SetSpinNs(uint64_t ns);
  /**
   * Whether PWM edges are recorded (default yes). An owner that never takes the record (the
   * agent) turns it off: the record would otherwise grow to kRecordLimit edges (12 MB) and cost
   * the thread a clock read and an append per edge. Turning it off frees what it held.
   */
  void SetRecordEdges(bool on);
  RecordStats Stats();
  std::vector<EdgeRecord> TakeRecords();
  std::vector<int64_t> WaveLateness();
  bool Busy();
  uint32_t ReadBank0();
  uint64_t lost_edges() const { return lost_.load(); }

 private:
  struct Channel {
    unsigned pin;
    unsigned bank;
    uint32_t bit;
    uint64_t period_ns, high_ns, cycles_left;
    uint64_t next_ns;
    bool level;
    bool counted;  // cycles_left counts down
  };
  struct EdgeState {
    bool stable;
    bool pending;
    bool pending_level;
    uint64_t since_ns;
    uint64_t seq;
  };

  void EnsureThread();
  void Run();
  // Due work; returns the next deadline that may be spun for (PWM, waveform, busy polls) and
  // sets *sleep_next to the next one that is only slept for (plain polls); UINT64_MAX when
  // none. Called with mu_ held.
  uint64_t DoDue(uint64_t now, std::vector<PolledEdge>* out, bool* wave_finished, uint64_t* sleep_next);
  void Record(unsigned pin, bool level, uint64_t due, uint64_t at);

  GpioSoc& soc_;
  GpioModel* model_;
  EngineSink sink_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::thread thread_;
  bool stop_ = false;
  bool dirty_ = false;
  std::atomic<bool> stop_flag_{false};
  uint64_t spin_ns_ = 150000;

  std::vector<Channel> channels_;
  std::vector<EdgeRecord> records_;
  bool record_edges_ = true;
  uint64_t edges_made_ = 0;
  // Waveform.
  std::vector<WaveStep> wave_;
  bool wave_on_ = false;
  size_t wave_i_ = 0;
  uint32_t wave_repeat_left_ = 0;
  uint64_t wave_next_ = 0;
  uint64_t wave_steps_done_ = 0, wave_late_sum_ = 0, wave_late_max_ = 0;
  std::vector<int64_t> wave_late_;
  // Edge watching.
  uint32_t watch_mask_ = 0, watch_rise_ = 0, watch_fall_ = 0;
  uint64_t debounce_ns_ = 0, poll_ns_ = 0, next_poll_ = 0, seq_ = 0;
  bool busy_poll_ = false;
  // A write of this thread changed a watched pin since the last poll: the next round polls first.
  bool poll_before_write_ = false;
  EdgeState edge_[32] = {};
  std::atomic<uint64_t> lost_{0};
};

}  // namespace pc
