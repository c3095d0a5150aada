// The one register accessor. Every MMIO read and write of the addon goes through Regs, so this is
// the only place with `volatile` and memory barriers, and the only place that can record a trace.
//
// Three ways to run, chosen per chip when it is opened:
//   direct  - volatile loads/stores on the mapped device (or on a file of the right size);
//   traced  - the same, and every access is appended to a trace that JS can fetch;
//   model   - accesses go to a behavioural model of the block (soc/model_*.cc), which keeps its
//             register state in the same kind of backing page; may be traced as well.
// The untraced direct path costs one predictable branch on `slow_` before the access.
//
// Trace addresses are logical: (block, offset inside that block). On BCM chips the block is GPIO
// (the 4 KiB gpiomem page); on RP1 the gpiomem0 window is split into its sub-blocks IO_BANKn,
// SYS_RIOn and PADS_BANKn, so "an RP1 write is one write of the mask at SYS_RIO0 + 0x2000" is an
// entry {block SYS_RIO0, offset 0x2000}. Atomic alias offsets (+0x1000/0x2000/0x3000) are kept in
// the offset, because which alias was used is exactly what a test must see.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace pc {

// Logical register blocks. Later peripherals (PWM0, CM, BSC1, RP1 PWM0...) add ids here.
enum class Block : uint8_t {
  kGpio = 0,
  kIoBank0,
  kIoBank1,
  kIoBank2,
  kSysRio0,
  kSysRio1,
  kSysRio2,
  kPads0,
  kPads1,
  kPads2,
  kBsc,  // one BSC (I2C) controller; which one is the mapping's choice
  kPwm0,
  kPwm1,     // BCM PWM blocks (PWM1 on the BCM2711 only)
  kCm,       // BCM clock manager page (CM_PWMCTL/CM_PWMDIV at 0xA0/0xA4)
  kRp1Pwm0,  // RP1 PWM0
  kCount
};
constexpr size_t kBlockCount = static_cast<size_t>(Block::kCount);
const char* BlockName(Block b);
// The block of a name ("GPIO", "SYS_RIO0"...); false when there is none.
bool BlockFromName(const char* name, Block* out);

enum class AccessOp : uint8_t { kRead, kWrite, kDelay };

struct TraceEntry {
  uint64_t seq;  // position in the chip's access order, from 0 after each clear
  Block block;
  AccessOp op;
  uint32_t offset;  // byte offset inside the block (0 for a delay)
  uint32_t value;   // value read or written; for a delay, microseconds
};

// A register resolved once: its address in the mapping, and its (block, offset) for the trace and
// the model. The hot paths keep these per pin, so a write is one load of the address and a store.
struct RegRef {
  volatile uint32_t* addr = nullptr;
  Block block = Block::kGpio;
  uint32_t offset = 0;
};

// Behaviour of a register block for the simulated mode. One model may serve several blocks.
class BlockModel {
 public:
  virtual ~BlockModel() = default;
  virtual uint32_t Read(Block b, uint32_t offset) = 0;
  virtual void Write(Block b, uint32_t offset, uint32_t value) = 0;
};

class Regs {
 public:
  // A trace is a test tool; this cap keeps a forgotten trace from eating the process's memory.
  static constexpr size_t kTraceLimit = size_t{1} << 20;

  Regs();

  void Attach(Block b, uint8_t* base, size_t size);
  void SetModel(Block b, BlockModel* model);
  void SetTracing(bool on);
  // Bytes attached for a block; 0 when this chip has no such block.
  size_t BlockSize(Block b) const { return base_[Index(b)] == nullptr ? 0 : size_[Index(b)]; }
  bool tracing() const { return tracing_; }

  uint32_t Read32(Block b, uint32_t offset) {
    if (__builtin_expect(slow_, 0)) return SlowRead(b, offset);
    uint32_t v = *reinterpret_cast<volatile const uint32_t*>(base_[Index(b)] + offset);
    ReadBarrier();
    return v;
  }

  void Write32(Block b, uint32_t offset, uint32_t value) {
    if (__builtin_expect(slow_, 0)) {
      SlowWrite(b, offset, value);
      return;
    }
    WriteBarrier();
    *reinterpret_cast<volatile uint32_t*>(base_[Index(b)] + offset) = value;
  }

  RegRef Ref(Block b, uint32_t offset) const {
    return RegRef{reinterpret_cast<volatile uint32_t*>(base_[Index(b)] + offset), b, offset};
  }

  uint32_t Read32(const RegRef& r) {
    if (__builtin_expect(slow_, 0)) return SlowRead(r.block, r.offset);
    uint32_t v = *r.addr;
    ReadBarrier();
    return v;
  }

  void Write32(const RegRef& r, uint32_t value) {
    if (__builtin_expect(slow_, 0)) {
      SlowWrite(r.block, r.offset, value);
      return;
    }
    WriteBarrier();
    *r.addr = value;
  }

  // Busy-waits `us` microseconds (datasheet set-up and hold times, e.g. the GPPUD clocking).
  // Recorded in the trace, so a test sees where the waits are in a sequence.
  void DelayUs(uint32_t us);

  const std::vector<TraceEntry>& trace() const { return trace_; }
  bool trace_overflowed() const { return overflowed_; }
  void ClearTrace();

 private:
  static size_t Index(Block b) { return static_cast<size_t>(b); }

  // BCM2835 ARM peripherals, section 1.3: accesses to different peripherals may complete out of
  // order, so a write barrier goes before a write and a read barrier after a read. On ARMv7/ARMv8
  // that is a DMB; ARMv6 (Pi 1/Zero) has no DMB instruction and uses the CP15 equivalent. On x86
  // (tests, simulation) device memory is uncached and strongly ordered, so a compiler barrier is
  // enough to keep the compiler from merging or reordering the volatile accesses.
  static inline void WriteBarrier() {
#if defined(__aarch64__)
    __asm__ __volatile__("dmb ishst" ::: "memory");
#elif defined(__arm__) && defined(__ARM_ARCH) && __ARM_ARCH >= 7
    __asm__ __volatile__("dmb st" ::: "memory");
#elif defined(__arm__)
    __asm__ __volatile__("mcr p15, 0, %0, c7, c10, 5" ::"r"(0) : "memory");
#else
    __asm__ __volatile__("" ::: "memory");
#endif
  }
  static inline void ReadBarrier() {
#if defined(__aarch64__)
    __asm__ __volatile__("dmb ishld" ::: "memory");
#elif defined(__arm__) && defined(__ARM_ARCH) && __ARM_ARCH >= 7
    __asm__ __volatile__("dmb" ::: "memory");
#elif defined(__arm__)
    __asm__ __volatile__("mcr p15, 0, %0, c7, c10, 5" ::"r"(0) : "memory");
#else
    __asm__ __volatile__("" ::: "memory");
#endif
  }

  uint32_t SlowRead(Block b, uint32_t offset);
  void SlowWrite(Block b, uint32_t offset, uint32_t value);
  void Record(Block b, AccessOp op, uint32_t offset, uint32_t value);
  void UpdateSlow();

  bool slow_ = false;  // tracing or any block modelled: the one branch on the hot path
  bool tracing_ = false;
  bool overflowed_ = false;
  uint64_t seq_ = 0;
  uint8_t* base_[kBlockCount];
  size_t size_[kBlockCount];
  BlockModel* model_[kBlockCount];
  std::vector<TraceEntry> trace_;
};

}  // namespace pc
