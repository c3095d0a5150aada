// JS binding of the timing thread: new TimingEngine({ soc, simulate?, gpioPath?, spinUs?, recordEdges? }, onEvent).
// The engine maps the GPIO window itself (a second mapping of the same registers on a Pi; its own
// anonymous page and GPIO model when simulated), so the thread never shares a register accessor,
// trace or model with the JS-side GpioChip. Events reach JS through one thread-safe function:
// onEvent('edges', events, lost) and onEvent('wave', { steps, lateSumNs, lateMaxNs }). The thread
// never blocks on JS: a full queue drops the batch and counts it as lost.
#include <node_api.h>

#include <atomic>
#include <memory>
#include <string>

#include "common/options.h"
#include "common/mapped_region.h"
#include "common/errors.h"
#include "soc/model.h"
#include "hal/engine.h"
#include "bindings/bindings.h"

namespace pc {
namespace {

constexpr const char* kPeripheral = "timing";
// Software PWM bounds: below 0.01 Hz a period no longer fits the use, above 100 kHz the edges
// are closer together than a register write and a clock read on the slowest Pi.
constexpr double kMinHz = 0.01, kMaxHz = 100000;
constexpr size_t kQueueLimit = 4096;

struct EngineCore {
  Regs regs;
  MappedRegion region;
  std::unique_ptr<GpioSoc> soc;
  std::unique_ptr<GpioModel> model;
  std::unique_ptr<Engine> engine;
  Napi::ThreadSafeFunction tsfn;
  std::atomic<uint64_t> lost{0};
  uint64_t t0 = 0;
  bool open = false;
  napi_env env = nullptr;
};

struct WaveDone {
  uint64_t steps, sum, max;
};

// Stops the thread when the environment goes away with the engine still open (worker exit,
// process exit): no thread outlives the last handle.
void CleanupHook(void* arg) {
  auto* c = static_cast<EngineCore*>(arg);
  if (c->engine) c->engine->Shutdown();
}

class EngineWrap : public Napi::ObjectWrap<EngineWrap> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "TimingEngine",
                       {
                           InstanceMethod<&EngineWrap::Pwm>("pwm"),
                           InstanceMethod<&EngineWrap::StopPwm>("stopPwm"),
                           InstanceMethod<&EngineWrap::Wave>("wave"),
                           InstanceMethod<&EngineWrap::Watch>("watch"),
                           InstanceMethod<&EngineWrap::Unwatch>("unwatch"),
                           InstanceMethod<&EngineWrap::SimDrive>("simDrive"),
                           InstanceMethod<&EngineWrap::Records>("records"),
                           InstanceMethod<&EngineWrap::Stats>("recordStats"),
                           InstanceMethod<&EngineWrap::WaveLateness>("waveLateness"),
                           InstanceMethod<&EngineWrap::ReadBank0>("readBank0"),
                           InstanceMethod<&EngineWrap::Now>("now"),
                           InstanceMethod<&EngineWrap::Busy>("busy"),
                           InstanceMethod<&EngineWrap::Ref>("ref"),
                           InstanceMethod<&EngineWrap::Unref>("unref"),
                           InstanceMethod<&EngineWrap::Close>("close"),
                       });
  }

  explicit EngineWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<EngineWrap>(info) {
    Napi::Env env = info.Env();
    if (!info[0].IsObject() || !info[1].IsFunction()) {
      ThrowInvalid(env, "TimingEngine(options, onEvent)", kPeripheral);
      return;
    }
    Napi::Object o = info[0].As<Napi::Object>();
    auto c = std::make_unique<EngineCore>();
    std::string soc = opts::String(o, "soc");
    c->soc = MakeGpioSoc(soc, c->regs);
    if (!c->soc) {
      ThrowInvalid(env, "unknown soc", kPeripheral);
      return;
    }
    bool sim = opts::Bool(o, "simulate");
    std::string path = sim ? "simulated" : opts::String(o, "gpioPath");
    if (path.empty()) {
      ThrowInvalid(env, "TimingEngine needs { simulate: true } or { gpioPath }", kPeripheral);
      return;
    }
    HwStatus st = sim ? c->region.MapAnonymous(c->soc->MapSize()) : c->region.Map(path, c->soc->MapSize());
    if (!st.ok()) {
      ErrnoError(env, st.err, st.syscall ? st.syscall : "mmap", kPeripheral, path).ThrowAsJavaScriptException();
      return;
    }
    c->soc->AttachBlocks(c->region.data());
    if (sim) {
      c->model = MakeGpioModel(soc, c->region.data(), c->region.size());
      c->model->Install(c->regs);
    }
    c->tsfn = Napi::ThreadSafeFunction::New(env, info[1].As<Napi::Function>(), "pi-controller:timing", kQueueLimit, 1);
    c->tsfn.Unref(env);
    EngineCore* raw = c.get();
    EngineSink sink;
    sink.edges = [raw](std::vector<PolledEdge>&& batch) {
      auto* data = new std::vector<PolledEdge>(std::move(batch));
      uint64_t lost = raw->lost.exchange(0);
      auto cb = [lost](Napi::Env env, Napi::Function fn, std::vector<PolledEdge>* d) {
        std::unique_ptr<std::vector<PolledEdge>> own(d);
        if (env == nullptr) return;
        Napi::Array arr = Napi::Array::New(env, d->size());
        for (size_t i = 0; i < d->size(); i++) {
          const PolledEdge& e = (*d)[i];
          Napi::Object ev = Napi::Object::New(env);
          ev.Set("offset", e.pin);
          ev.Set("edge", e.rising ? "rising" : "falling");
          ev.Set("timestampNs", Napi::BigInt::New(env, e.timestamp_ns));
          ev.Set("seqno", static_cast<double>(e.seqno));
          ev.Set("lineSeqno", static_cast<double>(e.line_seqno));
          arr.Set(static_cast<uint32_t>(i), ev);
        }
        fn.Call({Napi::String::New(env, "edges"), arr, Napi::Number::New(env, static_cast<double>(lost))});
      };
      size_t n = data->size();
      if (raw->tsfn.NonBlockingCall(data, cb) != napi_ok) {
        raw->lost += lost + n;
        delete data;
      }
    };
    sink.wave_done = [raw](uint64_t steps, uint64_t sum, uint64_t max) {
      auto* data = new WaveDone{steps, sum, max};
      auto cb = [](Napi::Env env, Napi::Function fn, WaveDone* d) {
        std::unique_ptr<WaveDone> own(d);
        if (env == nullptr) return;
        Napi::Object r = Napi::Object::New(env);
        r.Set("steps", static_cast<double>(d->steps));
        r.Set("lateSumNs", static_cast<double>(d->sum));
        r.Set("lateMaxNs", static_cast<double>(d->max));
        fn.Call({Napi::String::New(env, "wave"), r});
      };
      // A completion must not be dropped: it settles a promise. Blocking here waits only for
      // queue space, never for JS to run a particular callback.
      if (raw->tsfn.BlockingCall(data, cb) != napi_ok) delete data;
    };
    c->engine = std::make_unique<Engine>(*c->soc, c->model.get(), std::move(sink));
    if (o.Get("spinUs").IsNumber())
      c->engine->SetSpinNs(static_cast<uint64_t>(o.Get("spinUs").As<Napi::Number>().Uint32Value()) * 1000u);
    c->engine->SetRecordEdges(opts::Bool(o, "recordEdges", true));
    c->t0 = MonoNs();
    c->env = env;
    c->open = true;
    napi_add_env_cleanup_hook(env, CleanupHook, c.get());
    core_ = std::move(c);
  }

  ~EngineWrap() override {
    if (core_ && core_->open) Shut();
  }

 private:
  void Shut() {
    core_->open = false;
    core_->engine->Shutdown();
    napi_remove_env_cleanup_hook(core_->env, CleanupHook, core_.get());
    core_->tsfn.Release();
  }

  bool Open(Napi::Env env) {
    if (core_ && core_->open) return true;
    CodedError(env, "ECLOSED", "the timing engine is closed", kPeripheral).ThrowAsJavaScriptException();
    return false;
  }

  bool Pin(Napi::Env env, const Napi::Value& v, unsigned* pin) {
    double d = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : -1;
    if (d < 0 || d >= core_->soc->PinCount() || d != static_cast<unsigned>(d)) {
      CodedError(env, "EPIN_RANGE", "pin must be a GPIO number of this SoC", kPeripheral).ThrowAsJavaScriptException();
      return false;
    }
    *pin = static_cast<unsigned>(d);
    return true;
  }

  // pwm(pin, frequencyHz, duty, cycles): the period and high time in ns as the thread runs them.
  Napi::Value Pwm(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    unsigned pin;
    if (!Open(env) || !Pin(env, info[0], &pin)) return env.Undefined();
    double f = info[1].IsNumber() ? info[1].As<Napi::Number>().DoubleValue() : 0;
    double duty = info[2].IsNumber() ? info[2].As<Napi::Number>().DoubleValue() : -1;
    double cycles = info[3].IsNumber() ? info[3].As<Napi::Number>().DoubleValue() : 0;
    if (!(f >= kMinHz && f <= kMaxHz)) {
      CodedError(env, "EPWM_FREQ", "software PWM frequency must be within 0.01 Hz..100 kHz", kPeripheral)
          .ThrowAsJavaScriptException();
      return env.Undefined();
    }
    if (!(duty >= 0 && duty <= 1)) {
      CodedError(env, "EPWM_DUTY", "duty cycle must be within 0..1", kPeripheral).ThrowAsJavaScriptException();
      return env.Undefined();
    }
    if (!(cycles >= 0 && cycles <= 9e15) || cycles != static_cast<double>(static_cast<uint64_t>(cycles))) {
      ThrowInvalid(env, "cycles must be a whole number >= 0", kPeripheral);
      return env.Undefined();
    }
    uint64_t period = static_cast<uint64_t>(1e9 / f + 0.5);
    uint64_t high = static_cast<uint64_t>(duty * static_cast<double>(period) + 0.5);
    core_->engine->SetPwm(pin, period, high, static_cast<uint64_t>(cycles));
    Napi::Object r = Napi::Object::New(env);
    r.Set("periodNs", static_cast<double>(period));
    r.Set("highNs", static_cast<double>(high));
    r.Set("frequencyHz", 1e9 / static_cast<double>(period));
    r.Set("duty", static_cast<double>(high) / static_cast<double>(period));
    return r;
  }

  Napi::Value StopPwm(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    unsigned pin;
    if (!Open(env) || !Pin(env, info[0], &pin)) return env.Undefined();
    int level = info[1].IsNumber() ? info[1].As<Napi::Number>().Int32Value() : -1;
    core_->engine->StopPwm(pin, level < 0 ? -1 : level ? 1 : 0);
    return env.Undefined();
  }

  // wave(Uint32Array [set, clear, delayUs]*, repeat): false when a waveform is already running.
  Napi::Value Wave(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!Open(env)) return env.Undefined();
    if (!info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_uint32_array)
      return ThrowInvalid(env, "wave(Uint32Array steps, repeat)", kPeripheral);
    Napi::Uint32Array a = info[0].As<Napi::Uint32Array>();
    if (a.ElementLength() == 0 || a.ElementLength() % 3 != 0 || a.ElementLength() / 3 > 1000000) {
      CodedError(env, "EWAVE_STEPS", "a waveform is 1..1e6 steps of [set, clear, delayUs]", kPeripheral)
          .ThrowAsJavaScriptException();
      return env.Undefined();
    }
    uint32_t valid = core_->soc->BankWidth(0) >= 32 ? 0xFFFFFFFFu : (1u << core_->soc->BankWidth(0)) - 1;
    std::vector<WaveStep> steps;
    for (size_t i = 0; i < a.ElementLength(); i += 3) {
      if ((a[i] | a[i + 1]) & ~valid) {
        CodedError(env, "EMASK_RANGE", "waveform masks cover bank 0 pins only", kPeripheral)
            .ThrowAsJavaScriptException();
        return env.Undefined();
      }
      steps.push_back(WaveStep{a[i], a[i + 1], a[i + 2]});
    }
    uint32_t repeat = info[1].IsNumber() ? info[1].As<Napi::Number>().Uint32Value() : 0;
    return Napi::Boolean::New(env, core_->engine->RunWave(std::move(steps), repeat));
  }

  // watch(mask, risingMask, fallingMask, debounceUs, pollUs, busyPoll)
  Napi::Value Watch(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!Open(env)) return env.Undefined();
    for (int i = 0; i < 5; i++)
      if (!info[i].IsNumber())
        return ThrowInvalid(env, "watch(mask, rising, falling, debounceUs, pollUs)", kPeripheral);
    uint32_t poll = info[4].As<Napi::Number>().Uint32Value();
    if (poll == 0) return ThrowInvalid(env, "pollUs must be at least 1", kPeripheral);
    core_->engine->Watch(info[0].As<Napi::Number>().Uint32Value(), info[1].As<Napi::Number>().Uint32Value(),
                         info[2].As<Napi::Number>().Uint32Value(),
                         static_cast<uint64_t>(info[3].As<Napi::Number>().Uint32Value()) * 1000u,
                         static_cast<uint64_t>(poll) * 1000u,
                         info[5].IsBoolean() && info[5].As<Napi::Boolean>().Value());
    return env.Undefined();
  }

  Napi::Value Unwatch(const Napi::CallbackInfo& info) {
    if (core_ && core_->open) core_->engine->Unwatch();
    return info.Env().Undefined();
  }

  // simDrive(pin, level | null): the monotonic ns at which the input changed.
  Napi::Value SimDrive(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    unsigned pin;
    if (!Open(env) || !Pin(env, info[0], &pin)) return env.Undefined();
    if (!core_->model) {
      CodedError(env, "ENOTSIM", "only a simulated engine has driven inputs", kPeripheral).ThrowAsJavaScriptException();
      return env.Undefined();
    }
    int level = info[1].IsNumber() ? (info[1].As<Napi::Number>().Int32Value() ? 1 : 0) : -1;
    return Napi::BigInt::New(env, core_->engine->SimDrive(pin, level));
  }

  // records(): Float64Array of [pin, level, dueNs, atNs] per edge since the last call, times
  // relative to the engine's creation (exact in a double for 104 days).
  Napi::Value Records(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!Open(env)) return env.Undefined();
    std::vector<EdgeRecord> r = core_->engine->TakeRecords();
    Napi::Float64Array out = Napi::Float64Array::New(env, r.size() * 4);
    for (size_t i = 0; i < r.size(); i++) {
      out[4 * i] = r[i].pin;
      out[4 * i + 1] = r[i].level;
      out[4 * i + 2] = static_cast<double>(r[i].due_ns - core_->t0);
      out[4 * i + 3] = static_cast<double>(r[i].at_ns - core_->t0);
    }
    return out;
  }

  // recordStats(): { edges, held, heldBytes }: PWM edges made, edges the record holds, and the
  // memory it keeps for them (capacity, so a taken record shows as freed).
  Napi::Value Stats(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!Open(env)) return env.Undefined();
    RecordStats st = core_->engine->Stats();
    Napi::Object r = Napi::Object::New(env);
    r.Set("edges", static_cast<double>(st.made));
    r.Set("held", static_cast<double>(st.held));
    r.Set("heldBytes", static_cast<double>(st.held_bytes));
    return r;
  }

  Napi::Value WaveLateness(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!Open(env)) return env.Undefined();
    std::vector<int64_t> l = core_->engine->WaveLateness();
    Napi::Float64Array out = Napi::Float64Array::New(env, l.size());
    for (size_t i = 0; i < l.size(); i++) out[i] = static_cast<double>(l[i]);
    return out;
  }

  Napi::Value ReadBank0(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!Open(env)) return env.Undefined();
    return Napi::Number::New(env, core_->engine->ReadBank0());
  }

  Napi::Value Now(const Napi::CallbackInfo& info) { return Napi::BigInt::New(info.Env(), MonoNs()); }

  Napi::Value Busy(const Napi::CallbackInfo& info) {
    return Napi::Boolean::New(info.Env(), core_ && core_->open && core_->engine->Busy());
  }

  // ref()/unref(): whether pending events keep the event loop alive (src/hw/timing.ts decides).
  Napi::Value Ref(const Napi::CallbackInfo& info) {
    if (core_ && core_->open) core_->tsfn.Ref(info.Env());
    return info.Env().Undefined();
  }
  Napi::Value Unref(const Napi::CallbackInfo& info) {
    if (core_ && core_->open) core_->tsfn.Unref(info.Env());
    return info.Env().Undefined();
  }

  // close(): stops the thread (outputs stay as they are), releases the event function and unmaps.
  Napi::Value Close(const Napi::CallbackInfo& info) {
    if (core_ && core_->open) {
      Shut();
      core_->regs.SetModel(Block::kGpio, nullptr);
      for (int b = static_cast<int>(Block::kIoBank0); b <= static_cast<int>(Block::kPads2); b++)
        core_->regs.SetModel(static_cast<Block>(b), nullptr);
      core_->region.Unmap();
    }
    return info.Env().Undefined();
  }

  std::unique_ptr<EngineCore> core_;
};

}  // namespace

Napi::Function DefineTimingEngine(Napi::Env env) { return EngineWrap::Define(env); }

}  // namespace pc
