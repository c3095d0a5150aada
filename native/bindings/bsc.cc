// JS binding of the BSC master: new BscBus({ simulate?, path?, offset?, trace? }).
// Simulated: the registers are a BscModel over an anonymous page. Real: `path` (/dev/mem) mapped
// at `offset` (the controller's physical address, page aligned). TS decides whether the
// controller may be used at all (never one bound to the kernel's i2c-bcm2835 driver).
// Transfers poll the controller for as long as the bus takes, so they run on a worker thread;
// a mutex serialises them (and model/trace access from JS) per BscBus.
#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/options.h"
#include "hal/bsc.h"
#include "soc/model_bsc.h"
#include "common/mapped_region.h"
#include "common/errors.h"
#include "bindings/bindings.h"

namespace pc {
namespace {

constexpr const char* kPeripheral = "bsc";

struct BscCore {
  std::mutex mu;
  MappedRegion region;
  Regs regs;
  std::unique_ptr<BscModel> model;
  BscMaster master{regs};
  std::string path;
};

class BscWorker : public Napi::AsyncWorker {
 public:
  enum Kind { kWrite, kRead, kWriteRead };
  BscWorker(Napi::Env env, std::shared_ptr<BscCore> core, Kind kind, uint8_t addr, std::vector<uint8_t> wdata,
            size_t rlen)
      : Napi::AsyncWorker(env, "pi-controller:bsc"),
        deferred_(Napi::Promise::Deferred::New(env)),
        core_(std::move(core)),
        kind_(kind),
        addr_(addr),
        wdata_(std::move(wdata)),
        rdata_(rlen) {}
  Napi::Promise Promise() { return deferred_.Promise(); }
  void Execute() override {
    std::lock_guard<std::mutex> lock(core_->mu);
    switch (kind_) {
      case kWrite: result_ = core_->master.Write(addr_, wdata_.data(), wdata_.size()); break;
      case kRead: result_ = core_->master.Read(addr_, rdata_.data(), rdata_.size()); break;
      case kWriteRead:
        result_ = core_->master.WriteRead(addr_, wdata_.data(), wdata_.size(), rdata_.data(), rdata_.size());
        break;
    }
  }
  void OnOK() override {
    Napi::Env env = Env();
    if (result_.err != 0) {
      Napi::Error e = ErrnoError(env, result_.err, "bsc", kPeripheral, core_->path);
      e.Set("reason", Napi::String::New(env, result_.what));
      deferred_.Reject(e.Value());
      return;
    }
    if (kind_ == kWrite)
      deferred_.Resolve(env.Undefined());
    else
      deferred_.Resolve(Napi::Buffer<uint8_t>::Copy(env, rdata_.data(), rdata_.size()));
  }

 private:
  Napi::Promise::Deferred deferred_;
  std::shared_ptr<BscCore> core_;
  Kind kind_;
  uint8_t addr_;
  std::vector<uint8_t> wdata_, rdata_;
  BscResult result_;
};

class BscBus : public Napi::ObjectWrap<BscBus> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "BscBus",
                       {
                           InstanceMethod<&BscBus::Configure>("configure"),
                           InstanceMethod<&BscBus::Write>("write"),
                           InstanceMethod<&BscBus::Read>("read"),
                           InstanceMethod<&BscBus::WriteRead>("writeRead"),
                           InstanceMethod<&BscBus::Trace>("trace"),
                           InstanceMethod<&BscBus::ClearTrace>("clearTrace"),
                           InstanceMethod<&BscBus::AttachDevice>("attachDevice"),
                           InstanceMethod<&BscBus::DeviceRegisters>("deviceRegisters"),
                           InstanceMethod<&BscBus::BusLog>("busLog"),
                       });
  }

  explicit BscBus(const Napi::CallbackInfo& info) : Napi::ObjectWrap<BscBus>(info) {
    Napi::Env env = info.Env();
    Napi::Object o = opts::Arg(info, 0);
    auto core = std::make_shared<BscCore>();
    bool simulate = opts::Bool(o, "simulate");
    HwStatus st;
    if (simulate) {
      st = core->region.MapAnonymous(4096);
      core->path = "simulated";
    } else {
      if (!o.Get("path").IsString() || !o.Get("offset").IsNumber()) {
        ThrowInvalid(env, "BscBus needs { simulate: true } or { path, offset }", kPeripheral);
        return;
      }
      core->path = o.Get("path").As<Napi::String>().Utf8Value();
      st = core->region.Map(core->path, 4096, static_cast<uint64_t>(o.Get("offset").As<Napi::Number>().Int64Value()));
    }
    if (!st.ok()) {
      ErrnoError(env, st.err, st.syscall ? st.syscall : "mmap", kPeripheral, core->path).ThrowAsJavaScriptException();
      return;
    }
    // BSC3-6 on the BCM2711 share BSC0's 4 KiB page (at +0x600, +0x800, +0xA00, +0xC00).
    uint32_t block = opts::Uint32(o, "blockOffset");
    if (block > 4096 - 0x20 || (block & 3) != 0) {
      ThrowInvalid(env, "blockOffset must be a word offset inside the page", kPeripheral);
      return;
    }
    core->regs.Attach(Block::kBsc, core->region.data() + block, core->region.size() - block);
    if (simulate) {
      core->model = std::make_unique<BscModel>(core->region.data());
      core->regs.SetModel(Block::kBsc, core->model.get());
    }
    core->regs.SetTracing(opts::Bool(o, "trace"));
    core_ = std::move(core);
  }

 private:
  static bool Addr(const Napi::Value& v, uint8_t* out) {
    if (!v.IsNumber()) return false;
    double d = v.As<Napi::Number>().DoubleValue();
    if (d < 0 || d > 0x7f || d != static_cast<int>(d)) return false;
    *out = static_cast<uint8_t>(d);
    return true;
  }

  // configure(coreHz, sclHz, stretchTimeoutCycles): the SCL rate achieved.
  Napi::Value Configure(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!info[0].IsNumber() || !info[1].IsNumber() || !info[2].IsNumber())
      return ThrowInvalid(env, "configure needs coreHz, sclHz and stretchTimeoutCycles", kPeripheral);
    std::lock_guard<std::mutex> lock(core_->mu);
    uint32_t got =
        core_->master.Configure(info[0].As<Napi::Number>().Uint32Value(), info[1].As<Napi::Number>().Uint32Value(),
                                info[2].As<Napi::Number>().Uint32Value());
    if (got == 0) return ThrowInvalid(env, "SCL rate out of range for this core clock", kPeripheral);
    return Napi::Number::New(env, got);
  }

  Napi::Value Queue(Napi::Env env, BscWorker::Kind kind, uint8_t addr, std::vector<uint8_t> w, size_t rlen) {
    auto* worker = new BscWorker(env, core_, kind, addr, std::move(w), rlen);
    Napi::Promise p = worker->Promise();
    worker->Queue();
    return p;
  }

  Napi::Value Write(const Napi::CallbackInfo& info) {
    uint8_t addr = 0;
    if (!Addr(info[0], &addr) || !info[1].IsBuffer())
      return ThrowInvalid(info.Env(), "write(addr, Buffer)", kPeripheral);
    auto b = info[1].As<Napi::Buffer<uint8_t>>();
    return Queue(info.Env(), BscWorker::kWrite, addr, std::vector<uint8_t>(b.Data(), b.Data() + b.Length()), 0);
  }

  Napi::Value Read(const Napi::CallbackInfo& info) {
    uint8_t addr = 0;
    if (!Addr(info[0], &addr) || !info[1].IsNumber())
      return ThrowInvalid(info.Env(), "read(addr, length)", kPeripheral);
    return Queue(info.Env(), BscWorker::kRead, addr, {}, info[1].As<Napi::Number>().Uint32Value());
  }

  Napi::Value WriteRead(const Napi::CallbackInfo& info) {
    uint8_t addr = 0;
    if (!Addr(info[0], &addr) || !info[1].IsBuffer() || !info[2].IsNumber())
      return ThrowInvalid(info.Env(), "writeRead(addr, Buffer, length)", kPeripheral);
    auto b = info[1].As<Napi::Buffer<uint8_t>>();
    return Queue(info.Env(), BscWorker::kWriteRead, addr, std::vector<uint8_t>(b.Data(), b.Data() + b.Length()),
                 info[2].As<Napi::Number>().Uint32Value());
  }

  // trace(): [{ seq, op: 'read'|'write', offset, value }] of the BSC block.
  Napi::Value Trace(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    std::lock_guard<std::mutex> lock(core_->mu);
    const auto& t = core_->regs.trace();
    Napi::Array out = Napi::Array::New(env, t.size());
    for (size_t i = 0; i < t.size(); i++) {
      Napi::Object e = Napi::Object::New(env);
      e.Set("seq", Napi::Number::New(env, static_cast<double>(t[i].seq)));
      e.Set("op", t[i].op == AccessOp::kRead ? "read" : t[i].op == AccessOp::kWrite ? "write" : "delay");
      e.Set("offset", t[i].offset);
      e.Set("value", t[i].value);
      out.Set(static_cast<uint32_t>(i), e);
    }
    return out;
  }

  Napi::Value ClearTrace(const Napi::CallbackInfo& info) {
    std::lock_guard<std::mutex> lock(core_->mu);
    core_->regs.ClearTrace();
    if (core_->model) core_->model->log.clear();
    return info.Env().Undefined();
  }

  bool Model(Napi::Env env) {
    if (core_->model) return true;
    CodedError(env, "ENOTSIM", "only a simulated BSC has virtual devices", kPeripheral).ThrowAsJavaScriptException();
    return false;
  }

  // attachDevice(addr, registers: Buffer(256) | null, { stretch }): puts a virtual device on the bus.
  Napi::Value AttachDevice(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!Model(env)) return env.Undefined();
    uint8_t addr = 0;
    if (!Addr(info[0], &addr)) return ThrowInvalid(env, "bad address", kPeripheral);
    std::lock_guard<std::mutex> lock(core_->mu);
    VirtualDevice& d = core_->model->devices[addr];
    if (info[1].IsBuffer()) {
      auto b = info[1].As<Napi::Buffer<uint8_t>>();
      std::memcpy(d.regs, b.Data(), std::min<size_t>(b.Length(), sizeof(d.regs)));
    }
    if (info[2].IsObject()) {
      Napi::Value s = info[2].As<Napi::Object>().Get("stretch");
      d.stretch = s.IsBoolean() && s.As<Napi::Boolean>().Value();
    }
    return env.Undefined();
  }

  Napi::Value DeviceRegisters(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!Model(env)) return env.Undefined();
    uint8_t addr = 0;
    if (!Addr(info[0], &addr)) return ThrowInvalid(env, "bad address", kPeripheral);
    std::lock_guard<std::mutex> lock(core_->mu);
    auto it = core_->model->devices.find(addr);
    if (it == core_->model->devices.end()) return env.Null();
    return Napi::Buffer<uint8_t>::Copy(env, it->second.regs, sizeof(it->second.regs));
  }

  Napi::Value BusLog(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!Model(env)) return env.Undefined();
    std::lock_guard<std::mutex> lock(core_->mu);
    Napi::Array out = Napi::Array::New(env, core_->model->log.size());
    for (size_t i = 0; i < core_->model->log.size(); i++) out.Set(static_cast<uint32_t>(i), core_->model->log[i]);
    return out;
  }

  std::shared_ptr<BscCore> core_;
};

}  // namespace

Napi::Function DefineBscBus(Napi::Env env) { return BscBus::Define(env); }

}  // namespace pc
