#include "common/regs.h"

#include <cstdlib>
#include <cstring>
#include <time.h>

namespace pc {

namespace {
const char* const kBlockNames[] = {
    "GPIO",       "IO_BANK0",   "IO_BANK1", "IO_BANK2", "SYS_RIO0", "SYS_RIO1", "SYS_RIO2", "PADS_BANK0",
    "PADS_BANK1", "PADS_BANK2", "BSC",      "PWM0",     "PWM1",     "CM",       "RP1_PWM0",
};

// A block added to the enum needs its name here (trace entries and peek/poke use them).
static_assert(sizeof(kBlockNames) / sizeof(kBlockNames[0]) == kBlockCount, "one name per Block");

uint64_t NowNs() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000u + static_cast<uint64_t>(ts.tv_nsec);
}
}  // namespace

const char* BlockName(Block b) {
  size_t i = static_cast<size_t>(b);
  return i < kBlockCount ? kBlockNames[i] : "?";
}

bool BlockFromName(const char* name, Block* out) {
  for (size_t i = 0; i < kBlockCount; i++) {
    if (std::strcmp(name, kBlockNames[i]) == 0) {
      *out = static_cast<Block>(i);
      return true;
    }
  }
  return false;
}

Regs::Regs() {
  for (size_t i = 0; i < kBlockCount; i++) {
    base_[i] = nullptr;
    size_[i] = 0;
    model_[i] = nullptr;
  }
}

void Regs::Attach(Block b, uint8_t* base, size_t size) {
  base_[Index(b)] = base;
  size_[Index(b)] = size;
}

void Regs::SetModel(Block b, BlockModel* model) {
  model_[Index(b)] = model;
  UpdateSlow();
}

void Regs::SetTracing(bool on) {
  tracing_ = on;
  UpdateSlow();
}

void Regs::UpdateSlow() {
  bool any = tracing_;
  for (size_t i = 0; i < kBlockCount; i++) any = any || model_[i] != nullptr;
  slow_ = any;
}

void Regs::ClearTrace() {
  trace_.clear();
  overflowed_ = false;
  seq_ = 0;
}

void Regs::Record(Block b, AccessOp op, uint32_t offset, uint32_t value) {
  if (trace_.size() >= kTraceLimit) {
    overflowed_ = true;
    return;
  }
  trace_.push_back(TraceEntry{seq_++, b, op, offset, value});
}

// The slow path: model and/or trace. An offset outside the attached block is a bug in the SoC
// code (all offsets are constants); abort loudly rather than touch memory past the mapping.
uint32_t Regs::SlowRead(Block b, uint32_t offset) {
  size_t i = Index(b);
  if (base_[i] == nullptr || offset + 4 > size_[i] || (offset & 3) != 0) std::abort();
  uint32_t v;
  if (model_[i] != nullptr) {
    v = model_[i]->Read(b, offset);
  } else {
    v = *reinterpret_cast<volatile const uint32_t*>(base_[i] + offset);
    ReadBarrier();
  }
  if (tracing_) Record(b, AccessOp::kRead, offset, v);
  return v;
}

void Regs::SlowWrite(Block b, uint32_t offset, uint32_t value) {
  size_t i = Index(b);
  if (base_[i] == nullptr || offset + 4 > size_[i] || (offset & 3) != 0) std::abort();
  if (tracing_) Record(b, AccessOp::kWrite, offset, value);
  if (model_[i] != nullptr) {
    model_[i]->Write(b, offset, value);
  } else {
    WriteBarrier();
    *reinterpret_cast<volatile uint32_t*>(base_[i] + offset) = value;
  }
}

void Regs::DelayUs(uint32_t us) {
  if (tracing_) Record(Block::kGpio, AccessOp::kDelay, 0, us);
  // A busy wait, not a sleep: the waits are a few microseconds and nanosleep would cost more
  // than the wait itself (timer slack is 50 us by default).
  uint64_t end = NowNs() + static_cast<uint64_t>(us) * 1000u;
  while (NowNs() < end) {}
}

}  // namespace pc
