// JS binding of hardware PWM: new HwPwm({ soc, simulate?, trace?, memPath?, gpioPath?, offsets }).
// Simulated: every block is an anonymous page, the CM and RP1 PWM behind their models and the
// GPIO block behind the GPIO model. Real: the GPIO window from `gpioPath` (/dev/gpiomem or
// /dev/gpiomem0), and the PWM and CM pages from `memPath` (default /dev/mem) at the physical
// offsets src/hw/pwm.ts computes per SoC. Calls are short register sequences, so they run on the
// JS thread; a mutex still guards the core, because a timing engine may share nothing with it
// but the process.
#include <memory>
#include <mutex>
#include <string>

#include "common/options.h"
#include "common/mapped_region.h"
#include "common/errors.h"
#include "soc/model.h"
#include "hal/pwm.h"
#include "soc/model_pwm.h"
#include "bindings/bindings.h"

namespace pc {
namespace {

constexpr const char* kPeripheral = "pwm";
constexpr size_t kPage = 4096;

struct PwmCore {
  std::mutex mu;
  Family family = Family::kBcm2835;
  std::string soc_name;
  Regs regs;
  MappedRegion gpio_region, cm_region, pwm_region, rp1_region;
  std::unique_ptr<GpioSoc> soc;
  std::unique_ptr<GpioModel> gpio_model;
  std::unique_ptr<CmModel> cm_model;
  std::unique_ptr<Rp1PwmModel> rp1_model;
  std::unique_ptr<HwPwm> pwm;
  bool open = false;
  bool stop_on_close = false;
};

class HwPwmWrap : public Napi::ObjectWrap<HwPwmWrap> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "HwPwm",
                       {
                           InstanceMethod<&HwPwmWrap::Start>("start"),
                           InstanceMethod<&HwPwmWrap::Stop>("stop"),
                           InstanceMethod<&HwPwmWrap::Solve>("solve"),
                           InstanceMethod<&HwPwmWrap::Peek>("peek"),
                           InstanceMethod<&HwPwmWrap::Trace>("trace"),
                           InstanceMethod<&HwPwmWrap::ClearTrace>("clearTrace"),
                           InstanceMethod<&HwPwmWrap::ModelState>("modelState"),
                           InstanceMethod<&HwPwmWrap::Close>("close"),
                       });
  }

  explicit HwPwmWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<HwPwmWrap>(info) {
    Napi::Env env = info.Env();
    Napi::Object o = opts::Arg(info, 0);
    auto c = std::make_unique<PwmCore>();
    c->soc_name = opts::String(o, "soc");
    if (c->soc_name == "bcm2835" || c->soc_name == "bcm2836" || c->soc_name == "bcm2837")
      c->family = Family::kBcm2835;
    else if (c->soc_name == "bcm2711")
      c->family = Family::kBcm2711;
    else if (c->soc_name == "rp1")
      c->family = Family::kRp1;
    else {
      ThrowInvalid(env, "soc must be bcm2835, bcm2836, bcm2837, bcm2711 or rp1", kPeripheral);
      return;
    }
    c->soc = MakeGpioSoc(c->soc_name, c->regs);
    bool sim = opts::Bool(o, "simulate");
    bool rp1 = c->family == Family::kRp1;
    std::string mem = opts::String(o, "memPath", "/dev/mem");
    HwStatus st;
    std::string failed_path;
    auto map = [&](MappedRegion& r, const std::string& path, size_t size, const char* key) {
      if (!st.ok()) return;
      if (sim) {
        st = r.MapAnonymous(size);
      } else {
        Napi::Value off = o.Get(key);
        uint64_t at = off.IsNumber()   ? static_cast<uint64_t>(off.As<Napi::Number>().Int64Value())
                      : off.IsBigInt() ? off.As<Napi::BigInt>().Uint64Value(nullptr)
                                       : 0;
        st = r.Map(path, size, at);
      }
      if (!st.ok()) failed_path = sim ? "simulated" : path;
    };
    map(c->gpio_region, opts::String(o, "gpioPath", rp1 ? "/dev/gpiomem0" : "/dev/gpiomem"), c->soc->MapSize(),
        "gpioOffset");
    if (rp1) {
      map(c->rp1_region, mem, kPage, "pwmOffset");
    } else {
      map(c->cm_region, mem, kPage, "cmOffset");
      map(c->pwm_region, mem, kPage, "pwmOffset");
    }
    if (!st.ok()) {
      ErrnoError(env, st.err, st.syscall ? st.syscall : "mmap", kPeripheral, failed_path).ThrowAsJavaScriptException();
      return;
    }
    c->soc->AttachBlocks(c->gpio_region.data());
    if (rp1) {
      c->regs.Attach(Block::kRp1Pwm0, c->rp1_region.data(), kPage);
    } else {
      c->regs.Attach(Block::kCm, c->cm_region.data(), kPage);
      c->regs.Attach(Block::kPwm0, c->pwm_region.data(), 0x800);
      // The BCM2711's second PWM block sits 0x800 into the same page (bus 0x7E20C800).
      if (c->family == Family::kBcm2711) c->regs.Attach(Block::kPwm1, c->pwm_region.data() + 0x800, 0x800);
    }
    if (sim) {
      c->gpio_model = MakeGpioModel(c->soc_name, c->gpio_region.data(), c->gpio_region.size());
      c->gpio_model->Install(c->regs);
      if (rp1) {
        c->rp1_model = std::make_unique<Rp1PwmModel>(c->rp1_region.data());
        c->regs.SetModel(Block::kRp1Pwm0, c->rp1_model.get());
      } else {
        // modelBusyStuck: 'untilKill' | 'always' makes the model's clock ignore a stop (tests).
        std::string stuck = opts::String(o, "modelBusyStuck");
        c->cm_model = std::make_unique<CmModel>(c->cm_region.data(), stuck == "untilKill" ? BusyStuck::kUntilKill
                                                                     : stuck == "always"  ? BusyStuck::kAlways
                                                                                          : BusyStuck::kNo);
        c->regs.SetModel(Block::kCm, c->cm_model.get());
      }
    }
    c->regs.SetTracing(opts::Bool(o, "trace"));
    c->stop_on_close = opts::Bool(o, "stopOnClose");
    c->pwm = std::make_unique<HwPwm>(c->family, c->regs, *c->soc);
    c->open = true;
    core_ = std::move(c);
  }

 private:
  bool Open(Napi::Env env) {
    if (core_ && core_->open) return true;
    CodedError(env, "ECLOSED", "the PWM controller is closed", kPeripheral).ThrowAsJavaScriptException();
    return false;
  }

  static Napi::Object Result(Napi::Env env, const PwmSolution& s) {
    Napi::Object r = Napi::Object::New(env);
    r.Set("frequencyHz", s.freqHz);
    r.Set("duty", s.duty);
    r.Set("steps", static_cast<double>(s.range));
    r.Set("highTicks", static_cast<double>(s.data));
    r.Set("clockHz", s.clockHz);
    r.Set("source", s.src == kCmSrcOsc ? "oscillator" : s.src == kCmSrcPlld ? "plld" : "fixed");
    r.Set("divisor", s.divi);
    return r;
  }

  bool Args(const Napi::CallbackInfo& info, unsigned* pin, double* f, double* d) {
    if (!info[0].IsNumber() || !info[1].IsNumber() || !info[2].IsNumber()) {
      ThrowInvalid(info.Env(), "(pin, frequencyHz, duty) are numbers", kPeripheral);
      return false;
    }
    double p = info[0].As<Napi::Number>().DoubleValue();
    if (p < 0 || p > 63 || p != static_cast<unsigned>(p)) {
      CodedError(info.Env(), "EPWM_PIN", "pin must be a GPIO number", kPeripheral).ThrowAsJavaScriptException();
      return false;
    }
    *pin = static_cast<unsigned>(p);
    *f = info[1].As<Napi::Number>().DoubleValue();
    *d = info[2].As<Napi::Number>().DoubleValue();
    return true;
  }

  // start(pin, frequencyHz, duty, inverted): what was achieved.
  Napi::Value Start(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!Open(env)) return env.Undefined();
    unsigned pin;
    double f, d;
    if (!Args(info, &pin, &f, &d)) return env.Undefined();
    bool inverted = info[3].IsBoolean() && info[3].As<Napi::Boolean>().Value();
    std::lock_guard<std::mutex> lock(core_->mu);
    PwmSolution s;
    PwmError e = core_->pwm->Start(pin, f, d, inverted, &s);
    if (!e.ok()) {
      CodedError(env, e.code, e.message, kPeripheral).ThrowAsJavaScriptException();
      return env.Undefined();
    }
    return Result(env, s);
  }

  // solve(pin, frequencyHz, duty): the settings start() would choose, with nothing written.
  Napi::Value Solve(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    unsigned pin;
    double f, d;
    if (!Args(info, &pin, &f, &d)) return env.Undefined();
    if (FindRoute(core_->family, pin) == nullptr) {
      CodedError(env, "EPWM_PIN", "GPIO" + std::to_string(pin) + " has no hardware PWM on this SoC", kPeripheral)
          .ThrowAsJavaScriptException();
      return env.Undefined();
    }
    PwmSolution s;
    PwmError e = pc::Solve(core_->family, f, d, 0, 0, &s);
    if (!e.ok()) {
      CodedError(env, e.code, e.message, kPeripheral).ThrowAsJavaScriptException();
      return env.Undefined();
    }
    return Result(env, s);
  }

  Napi::Value Stop(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!Open(env)) return env.Undefined();
    if (!info[0].IsNumber()) return ThrowInvalid(env, "stop(pin)", kPeripheral);
    std::lock_guard<std::mutex> lock(core_->mu);
    PwmError e = core_->pwm->Stop(info[0].As<Napi::Number>().Uint32Value());
    if (!e.ok()) CodedError(env, e.code, e.message, kPeripheral).ThrowAsJavaScriptException();
    return env.Undefined();
  }

  // peek(block, offset): a register as it is now (through the model in simulated mode), untraced.
  Napi::Value Peek(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!Open(env)) return env.Undefined();
    if (!info[0].IsString() || !info[1].IsNumber()) return ThrowInvalid(env, "peek(block, offset)", kPeripheral);
    Block b;
    if (!BlockFromName(info[0].As<Napi::String>().Utf8Value().c_str(), &b))
      return ThrowInvalid(env, "unknown block", kPeripheral);
    uint32_t off = info[1].As<Napi::Number>().Uint32Value();
    std::lock_guard<std::mutex> lock(core_->mu);
    if (off + 4 > core_->regs.BlockSize(b) || (off & 3) != 0)
      return ThrowInvalid(env, "offset outside the block", kPeripheral);
    bool tracing = core_->regs.tracing();
    core_->regs.SetTracing(false);
    uint32_t v = core_->regs.Read32(b, off);
    core_->regs.SetTracing(tracing);
    return Napi::Number::New(env, v);
  }

  Napi::Value Trace(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    std::lock_guard<std::mutex> lock(core_->mu);
    const auto& t = core_->regs.trace();
    Napi::Array out = Napi::Array::New(env, t.size());
    for (size_t i = 0; i < t.size(); i++) {
      Napi::Object e = Napi::Object::New(env);
      e.Set("seq", Napi::Number::New(env, static_cast<double>(t[i].seq)));
      e.Set("op", t[i].op == AccessOp::kRead ? "read" : t[i].op == AccessOp::kWrite ? "write" : "delay");
      if (t[i].op == AccessOp::kDelay)
        e.Set("block", env.Null());
      else
        e.Set("block", BlockName(t[i].block));
      e.Set("offset", t[i].offset);
      e.Set("value", t[i].value);
      out.Set(static_cast<uint32_t>(i), e);
    }
    return out;
  }

  Napi::Value ClearTrace(const Napi::CallbackInfo& info) {
    std::lock_guard<std::mutex> lock(core_->mu);
    core_->regs.ClearTrace();
    return info.Env().Undefined();
  }

  // modelState(): what the models latched (simulated mode only), for tests.
  Napi::Value ModelState(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    std::lock_guard<std::mutex> lock(core_->mu);
    Napi::Object r = Napi::Object::New(env);
    if (core_->cm_model) {
      const CmModel& m = *core_->cm_model;
      r.Set("clockRunning", m.running);
      r.Set("clockSource", m.run_src);
      r.Set("clockDivisor", m.run_divi);
      r.Set("violations", m.violations);
      r.Set("badPassword", m.bad_password);
      r.Set("kills", m.kills);
    } else if (core_->rp1_model) {
      const Rp1PwmModel& m = *core_->rp1_model;
      r.Set("updates", m.updates);
      r.Set("enabled", m.active_global);
      Napi::Array ch = Napi::Array::New(env, 4);
      for (unsigned c = 0; c < 4; c++) {
        Napi::Object o = Napi::Object::New(env);
        o.Set("ctrl", m.active_ctrl[c]);
        o.Set("range", m.active_range[c]);
        o.Set("duty", m.active_duty[c]);
        ch.Set(c, o);
      }
      r.Set("channels", ch);
    } else {
      return env.Null();
    }
    return r;
  }

  // close(): stops the channels when opened with stopOnClose, then unmaps. Idempotent.
  Napi::Value Close(const Napi::CallbackInfo& info) {
    if (core_ && core_->open) {
      std::lock_guard<std::mutex> lock(core_->mu);
      if (core_->stop_on_close) core_->pwm->StopAll();
      core_->open = false;
      core_->regs.SetModel(Block::kCm, nullptr);
      core_->regs.SetModel(Block::kRp1Pwm0, nullptr);
      core_->gpio_region.Unmap();
      core_->cm_region.Unmap();
      core_->pwm_region.Unmap();
      core_->rp1_region.Unmap();
    }
    return info.Env().Undefined();
  }

  std::unique_ptr<PwmCore> core_;
};

}  // namespace

Napi::Function DefineHwPwm(Napi::Env env) { return HwPwmWrap::Define(env); }

}  // namespace pc
