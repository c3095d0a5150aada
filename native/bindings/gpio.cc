#include "bindings/gpio.h"

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cmath>
#include <string>

#include "common/errors.h"

namespace pc {

namespace {

constexpr const char* kPeripheral = "gpio";
constexpr unsigned kReservedPins = 2;  // GPIO0/1: ID_SD/ID_SC, the HAT ID EEPROM bus

const char* const kFuncNames[] = {"input", "output", "alt0", "alt1", "alt2", "alt3",
                                  "alt4",  "alt5",   "alt6", "alt7", "alt8", "none"};
constexpr unsigned kFuncCount = sizeof(kFuncNames) / sizeof(kFuncNames[0]);

HwErrorInfo Closed() { return {"ECLOSED", "the GPIO chip is closed", nullptr, kPeripheral, 0, {}}; }

std::string Num(double d) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", d);
  return buf;
}

// --- argument checks shared by the plain N-API fast path and the wrapped methods -------------
// Each returns false after throwing (a pending exception), true with the value otherwise.

bool Integer(napi_env env, napi_value v, const char* what, const char* code, double* out) {
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_number) {
    ThrowType(env, code, std::string(what) + " must be an integer");
    return false;
  }
  napi_get_value_double(env, v, out);
  return true;
}

bool CheckPin(napi_env env, const GpioCore* c, napi_value v, unsigned* pin) {
  double d;
  if (!Integer(env, v, "pin", "EPIN_TYPE", &d)) return false;
  if (!(d >= 0 && d < c->pinCount) || d != std::floor(d)) {
    ThrowRange(env, "EPIN_RANGE",
               "pin " + Num(d) + " is outside " + c->soc->Name() + "'s GPIO 0-" + std::to_string(c->pinCount - 1));
    return false;
  }
  *pin = static_cast<unsigned>(d);
  if (*pin < kReservedPins && !c->allowReserved) {
    ThrowRange(env, "EPIN_RESERVED",
               "GPIO" + std::to_string(*pin) +
                   " is reserved for the HAT ID EEPROM (ID_SD/ID_SC); open the chip with allowReserved to use it");
    return false;
  }
  return true;
}

bool CheckBank(napi_env env, const GpioCore* c, napi_value v, unsigned* bank) {
  napi_valuetype t;
  napi_typeof(env, v, &t);
  if (t == napi_undefined) {
    *bank = 0;
    return true;
  }
  double d;
  if (!Integer(env, v, "bank", "EBANK_TYPE", &d)) return false;
  if (!(d >= 0 && d < c->soc->BankCount()) || d != std::floor(d)) {
    ThrowRange(env, "EBANK_RANGE",
               std::string(c->soc->Name()) + " has GPIO banks 0-" + std::to_string(c->soc->BankCount() - 1));
    return false;
  }
  *bank = static_cast<unsigned>(d);
  return true;
}

bool CheckMask(napi_env env, const GpioCore* c, napi_value v, unsigned bank, uint32_t* mask) {
  double d;
  if (!Integer(env, v, "mask", "EMASK_TYPE", &d)) return false;
  unsigned width = c->soc->BankWidth(bank);
  double limit = std::ldexp(1.0, static_cast<int>(width));
  if (!(d >= 0 && d < limit) || d != std::floor(d)) {
    ThrowRange(env, "EMASK_RANGE",
               "mask has bits outside bank " + std::to_string(bank) + " (" + std::to_string(width) + " pins)");
    return false;
  }
  *mask = static_cast<uint32_t>(d);
  if (bank == 0 && (*mask & ((1u << kReservedPins) - 1)) != 0 && !c->allowReserved) {
    ThrowRange(env, "EPIN_RESERVED",
               "mask includes GPIO0/GPIO1, reserved for the HAT ID EEPROM; open the chip with allowReserved");
    return false;
  }
  return true;
}

// --- the fast path: plain N-API functions whose data is the GpioCore --------------------------
// No ObjectWrap unwrap, no C++ wrapper objects: a JS write() costs one napi_get_cb_info, two
// number reads and the register store.

GpioCore* CoreOf(napi_env env, napi_callback_info info, size_t* argc, napi_value* argv) {
  void* data = nullptr;
  napi_get_cb_info(env, info, argc, argv, nullptr, &data);
  auto* c = static_cast<GpioCore*>(data);
  if (!c->open) {
    ThrowHw(env, Closed());
    return nullptr;
  }
  return c;
}

napi_value FastWrite(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  GpioCore* c = CoreOf(env, info, &argc, argv);
  if (c == nullptr) return nullptr;
  unsigned pin;
  if (argc < 2) return ThrowType(env, "EARG", "write(pin, value) needs two arguments");
  if (!CheckPin(env, c, argv[0], &pin)) return nullptr;
  double v;
  napi_valuetype t;
  napi_typeof(env, argv[1], &t);
  if (t != napi_number || (napi_get_value_double(env, argv[1], &v), v != 0 && v != 1)) {
    return ThrowType(env, "EVALUE", "value must be 0 or 1");
  }
  c->soc->Write(pin, v != 0);
  return nullptr;
}

napi_value FastRead(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  GpioCore* c = CoreOf(env, info, &argc, argv);
  if (c == nullptr) return nullptr;
  if (argc < 1) return ThrowType(env, "EARG", "read(pin) needs a pin");
  unsigned pin;
  if (!CheckPin(env, c, argv[0], &pin)) return nullptr;
  napi_value r;
  napi_create_uint32(env, c->soc->Read(pin) ? 1 : 0, &r);
  return r;
}

template <bool kSet>
napi_value FastMask(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  GpioCore* c = CoreOf(env, info, &argc, argv);
  if (c == nullptr) return nullptr;
  if (argc < 1) return ThrowType(env, "EARG", "a mask is needed");
  unsigned bank = 0;
  uint32_t mask;
  if (argc >= 2 && !CheckBank(env, c, argv[1], &bank)) return nullptr;
  if (!CheckMask(env, c, argv[0], bank, &mask)) return nullptr;
  if (kSet)
    c->soc->SetMask(bank, mask);
  else
    c->soc->ClearMask(bank, mask);
  return nullptr;
}

napi_value FastReadBank(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  GpioCore* c = CoreOf(env, info, &argc, argv);
  if (c == nullptr) return nullptr;
  unsigned bank = 0;
  if (argc >= 1 && !CheckBank(env, c, argv[0], &bank)) return nullptr;
  uint32_t width = c->soc->BankWidth(bank);
  uint32_t valid = width >= 32 ? ~0u : (1u << width) - 1;
  napi_value r;
  napi_create_uint32(env, c->soc->ReadBank(bank) & valid, &r);
  return r;
}

// --- the mailbox path: zero-argument functions -------------------------------------------------
// JS stores the arguments in core->mailbox (an Int32Array over it) and calls a function that
// takes no JS arguments, so the call makes one N-API call (napi_get_cb_info, for the core) and no
// value conversions. Results come back in mailbox[2]. The checks are the same as on the argument
// path, done on the int32 slots: a non-integer never reaches here (the Int32Array would truncate
// it), because src/hw checks before storing; a pin or value out of range is still refused here.

GpioCore* MailboxCore(napi_env env, napi_callback_info info) {
  void* data = nullptr;
  napi_get_cb_info(env, info, nullptr, nullptr, nullptr, &data);
  auto* c = static_cast<GpioCore*>(data);
  if (__builtin_expect(!c->open, 0)) {
    ThrowHw(env, Closed());
    return nullptr;
  }
  return c;
}

// Error paths kept out of line, so the checks in the hot functions inline to a few compares.
[[gnu::cold, gnu::noinline]] void ThrowPinRange(napi_env env, const GpioCore* c, int32_t v) {
  ThrowRange(
      env, "EPIN_RANGE",
      "pin " + std::to_string(v) + " is outside " + c->soc->Name() + "'s GPIO 0-" + std::to_string(c->pinCount - 1));
}

[[gnu::cold, gnu::noinline]] void ThrowPinReserved(napi_env env, int32_t v) {
  ThrowRange(env, "EPIN_RESERVED", "GPIO" + std::to_string(v) + " is reserved for the HAT ID EEPROM (ID_SD/ID_SC)");
}

[[gnu::cold, gnu::noinline]] napi_value ThrowClosed(napi_env env) { return ThrowHw(env, Closed()); }

[[gnu::cold, gnu::noinline]] napi_value ThrowValue(napi_env env) {
  return ThrowType(env, "EVALUE", "value must be 0 or 1");
}

[[gnu::always_inline]] inline bool MailboxPin(napi_env env, const GpioCore* c, int32_t v, unsigned* pin) {
  if (__builtin_expect(v < 0 || static_cast<unsigned>(v) >= c->pinCount, 0)) {
    ThrowPinRange(env, c, v);
    return false;
  }
  if (__builtin_expect(static_cast<unsigned>(v) < kReservedPins && !c->allowReserved, 0)) {
    ThrowPinReserved(env, v);
    return false;
  }
  *pin = static_cast<unsigned>(v);
  return true;
}

[[gnu::cold, gnu::noinline]] void ThrowMask(napi_env env, const GpioCore* c, int32_t b, uint32_t mask) {
  if (b < 0 || static_cast<unsigned>(b) >= c->soc->BankCount()) {
    ThrowRange(env, "EBANK_RANGE",
               std::string(c->soc->Name()) + " has GPIO banks 0-" + std::to_string(c->soc->BankCount() - 1));
  } else if ((mask & ~c->banks[b].valid) != 0) {
    ThrowRange(env, "EMASK_RANGE", "mask has bits outside bank " + std::to_string(b));
  } else {
    ThrowRange(env, "EPIN_RESERVED", "mask includes GPIO0/GPIO1, reserved for the HAT ID EEPROM");
  }
}

// Bank and mask from two int32 slots: the bank in range, no bits past the bank's pins, and no
// reserved pin unless allowed.
[[gnu::always_inline]] inline bool CheckMaskSlots(napi_env env, const GpioCore* c, int32_t b, int32_t m, unsigned* bank,
                                                  uint32_t* mask) {
  uint32_t mm = static_cast<uint32_t>(m);
  uint32_t reserved = b == 0 && !c->allowReserved ? (1u << kReservedPins) - 1 : 0;
  if (__builtin_expect(b < 0 || static_cast<unsigned>(b) >= c->soc->BankCount() || (mm & ~c->banks[b].valid) != 0 ||
                           (mm & reserved) != 0,
                       0)) {
    ThrowMask(env, c, b, mm);
    return false;
  }
  *bank = static_cast<unsigned>(b);
  *mask = mm;
  return true;
}

bool MailboxMask(napi_env env, const GpioCore* c, unsigned* bank, uint32_t* mask) {
  return CheckMaskSlots(env, c, c->mailbox[1], c->mailbox[0], bank, mask);
}

napi_value MailboxWrite(napi_env env, napi_callback_info info) {
  GpioCore* c = MailboxCore(env, info);
  if (c == nullptr) return nullptr;
  unsigned pin;
  if (!MailboxPin(env, c, c->mailbox[0], &pin)) return nullptr;
  int32_t v = c->mailbox[1];
  if (v != 0 && v != 1) return ThrowType(env, "EVALUE", "value must be 0 or 1");
  c->soc->Write(pin, v != 0);
  return nullptr;
}

napi_value MailboxRead(napi_env env, napi_callback_info info) {
  GpioCore* c = MailboxCore(env, info);
  if (c == nullptr) return nullptr;
  unsigned pin;
  if (!MailboxPin(env, c, c->mailbox[0], &pin)) return nullptr;
  c->mailbox[2] = c->soc->Read(pin) ? 1 : 0;
  return nullptr;
}

template <bool kSet>
napi_value MailboxSetClear(napi_env env, napi_callback_info info) {
  GpioCore* c = MailboxCore(env, info);
  if (c == nullptr) return nullptr;
  unsigned bank;
  uint32_t mask;
  if (!MailboxMask(env, c, &bank, &mask)) return nullptr;
  if (kSet)
    c->soc->SetMask(bank, mask);
  else
    c->soc->ClearMask(bank, mask);
  return nullptr;
}

napi_value MailboxReadBank(napi_env env, napi_callback_info info) {
  GpioCore* c = MailboxCore(env, info);
  if (c == nullptr) return nullptr;
  int32_t b = c->mailbox[1];
  if (b < 0 || static_cast<unsigned>(b) >= c->soc->BankCount()) {
    return ThrowRange(env, "EBANK_RANGE",
                      std::string(c->soc->Name()) + " has GPIO banks 0-" + std::to_string(c->soc->BankCount() - 1));
  }
  unsigned width = c->soc->BankWidth(static_cast<unsigned>(b));
  uint32_t valid = width >= 32 ? ~0u : (1u << width) - 1;
  c->mailbox[2] = static_cast<int32_t>(c->soc->ReadBank(static_cast<unsigned>(b)) & valid);
  return nullptr;
}

// --- the process-wide fast path ---------------------------------------------------------------
// The floor of a JS->native call is the bare N-API call (noop). Even napi_get_cb_info, needed to
// reach a function's data, adds about a third to it here. So the first JS environment that loads
// the addon (normally the main thread) owns one static mailbox and a table of chips, and its fast
// functions take no arguments and make no N-API calls at all: JS writes [pin|mask, value|bank,
// -, chip slot] into the mailbox and calls. Other environments (worker threads) use the per-chip
// mailbox above. All calls on the fast path come from the owner's thread, so no locking.

constexpr int kFastSlots = 64;
struct FastPath {
  alignas(64) int32_t mailbox[4];
  GpioCore* cores[kFastSlots];
};
FastPath g_fast;
std::atomic<napi_env> g_fastOwner{nullptr};

[[gnu::always_inline]] inline GpioCore* FastCore(napi_env env) {
  uint32_t slot = static_cast<uint32_t>(g_fast.mailbox[3]);
  GpioCore* c = slot < static_cast<uint32_t>(kFastSlots) ? g_fast.cores[slot] : nullptr;
  if (__builtin_expect(c == nullptr || !c->open, 0)) {
    ThrowClosed(env);
    return nullptr;
  }
  return c;
}

napi_value FastPathWrite(napi_env env, napi_callback_info) {
  GpioCore* c = FastCore(env);
  if (c == nullptr) return nullptr;
  unsigned pin;
  if (!MailboxPin(env, c, g_fast.mailbox[0], &pin)) return nullptr;
  int32_t v = g_fast.mailbox[1];
  if (__builtin_expect(v != 0 && v != 1, 0)) return ThrowValue(env);
  // The same registers Write() uses (PinRefs), resolved at open: the dependent loads between
  // the call and the store are what a JS write costs beyond the bare call.
  const PinRegs& p = c->pins[pin];
  c->regs.Write32(v ? p.set : p.clr, p.bit);
  return nullptr;
}

napi_value FastPathRead(napi_env env, napi_callback_info) {
  GpioCore* c = FastCore(env);
  if (c == nullptr) return nullptr;
  unsigned pin;
  if (!MailboxPin(env, c, g_fast.mailbox[0], &pin)) return nullptr;
  const PinRegs& p = c->pins[pin];
  g_fast.mailbox[2] = (c->regs.Read32(p.lev) & p.bit) ? 1 : 0;
  return nullptr;
}

template <bool kSet>
napi_value FastPathSetClear(napi_env env, napi_callback_info) {
  GpioCore* c = FastCore(env);
  if (c == nullptr) return nullptr;
  unsigned bank;
  uint32_t mask;
  if (!CheckMaskSlots(env, c, g_fast.mailbox[1], g_fast.mailbox[0], &bank, &mask)) return nullptr;
  const BankRegs& r = c->banks[bank];
  c->regs.Write32(kSet ? r.set : r.clr, mask);
  return nullptr;
}

napi_value FastPathReadBank(napi_env env, napi_callback_info) {
  GpioCore* c = FastCore(env);
  if (c == nullptr) return nullptr;
  int32_t b = g_fast.mailbox[1];
  if (b < 0 || static_cast<unsigned>(b) >= c->soc->BankCount()) {
    return ThrowRange(env, "EBANK_RANGE",
                      std::string(c->soc->Name()) + " has GPIO banks 0-" + std::to_string(c->soc->BankCount() - 1));
  }
  unsigned width = c->soc->BankWidth(static_cast<unsigned>(b));
  uint32_t valid = width >= 32 ? ~0u : (1u << width) - 1;
  g_fast.mailbox[2] = static_cast<int32_t>(c->soc->ReadBank(static_cast<unsigned>(b)) & valid);
  return nullptr;
}

// Defines a fast function as an own, read-only property of the chip object. The function keeps
// the core alive through its finalizer data (a heap shared_ptr), since JS may hold the function
// longer than the chip.
void DefineFast(Napi::Env env, Napi::Object self, const std::shared_ptr<GpioCore>& core, const char* name,
                napi_callback cb) {
  napi_value fn;
  NAPI_THROW_IF_FAILED_VOID(env, napi_create_function(env, name, NAPI_AUTO_LENGTH, cb, core.get(), &fn));
  auto* keep = new std::shared_ptr<GpioCore>(core);
  napi_status s = napi_add_finalizer(
      env, fn, keep, [](napi_env, void* data, void*) { delete static_cast<std::shared_ptr<GpioCore>*>(data); }, nullptr,
      nullptr);
  if (s != napi_ok) {
    delete keep;
    NAPI_THROW_IF_FAILED_VOID(env, s);
  }
  self.DefineProperty(Napi::PropertyDescriptor::Value(name, Napi::Value(env, fn), napi_enumerable));
}

bool ParseFunc(const std::string& s, Func* f) {
  for (unsigned i = 0; i < kFuncCount; i++) {
    if (s == kFuncNames[i]) {
      *f = static_cast<Func>(i);
      return true;
    }
  }
  return false;
}

std::string OpenMessage(const std::string& path, int err, const char* syscall, const GpioSoc& soc) {
  if (err == EACCES || err == EPERM) {
    return "permission denied opening " + path +
           ": add the user to the gpio group (sudo usermod -aG gpio $USER, then log in again) or run as root";
  }
  if (err == ENOENT) {
    return path +
           " does not exist: this is not a Raspberry Pi or its gpiomem driver is not loaded; "
           "open the chip with simulate: true to use the behavioural model";
  }
  if (err == EINVAL && std::string(syscall) == "fstat") {
    return path + " is smaller than the " + std::to_string(soc.MapSize()) + " bytes the " + soc.Name() +
           " GPIO window needs";
  }
  return std::string("cannot map ") + path + ": " + syscall + " failed (" + ErrnoCode(err) + ")";
}

}  // namespace

GpioCore::~GpioCore() {
  if (fastSlot >= 0) g_fast.cores[fastSlot] = nullptr;
}

void GpioChip::InitFastPath(Napi::Env env, Napi::Object exports) {
  napi_env expected = nullptr;
  if (!g_fastOwner.compare_exchange_strong(expected, static_cast<napi_env>(env))) return;
  napi_value ab, view;
  if (napi_create_external_arraybuffer(env, g_fast.mailbox, sizeof g_fast.mailbox, nullptr, nullptr, &ab) != napi_ok ||
      napi_create_typedarray(env, napi_int32_array, 4, ab, 0, &view) != napi_ok) {
    napi_value ignored;
    napi_get_and_clear_last_exception(env, &ignored);
    g_fastOwner = nullptr;
    return;
  }
  Napi::Object fast = Napi::Object::New(env);
  fast.Set("mailbox", Napi::Value(env, view));
  auto fn = [&](const char* name, napi_callback cb) {
    napi_value f;
    NAPI_THROW_IF_FAILED_VOID(env, napi_create_function(env, name, NAPI_AUTO_LENGTH, cb, nullptr, &f));
    fast.Set(name, Napi::Value(env, f));
  };
  fn("write", FastPathWrite);
  fn("read", FastPathRead);
  fn("setMask", FastPathSetClear<true>);
  fn("clearMask", FastPathSetClear<false>);
  fn("readBank", FastPathReadBank);
  exports.Set("gpioFastPath", fast);
  // When the owner env goes away (its thread ends), the table dies with it.
  napi_add_env_cleanup_hook(
      env,
      [](void*) {
        for (auto& c : g_fast.cores) {
          if (c != nullptr) c->fastSlot = -1;
          c = nullptr;
        }
        g_fastOwner = nullptr;
      },
      nullptr);
}

Napi::Function GpioChip::Init(Napi::Env env) {
  return DefineClass(env, "GpioChip",
                     {
                         InstanceMethod<&GpioChip::Info>("info"),
                         InstanceMethod<&GpioChip::SetFunction>("setFunction"),
                         InstanceMethod<&GpioChip::GetFunction>("getFunction"),
                         InstanceMethod<&GpioChip::SetPull>("setPull"),
                         InstanceMethod<&GpioChip::SetDrive>("setDrive"),
                         InstanceMethod<&GpioChip::SetSlew>("setSlew"),
                         InstanceMethod<&GpioChip::ReadRegister>("readRegister"),
                         InstanceMethod<&GpioChip::WriteRegister>("writeRegister"),
                         InstanceMethod<&GpioChip::Trace>("trace"),
                         InstanceMethod<&GpioChip::ClearTrace>("clearTrace"),
                         InstanceMethod<&GpioChip::SimDrive>("simDrive"),
                         InstanceMethod<&GpioChip::BenchToggle>("benchToggle"),
                         InstanceMethod<&GpioChip::Close>("close"),
                     });
}

// new GpioChip({ soc, path?, simulate?, trace?, allowReserved? }). The SoC name is already
// resolved by src/hw (detection lives there); here it only picks the implementation.
GpioChip::GpioChip(const Napi::CallbackInfo& info) : Napi::ObjectWrap<GpioChip>(info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsObject()) { throw Napi::TypeError::New(env, "GpioChip needs an options object"); }
  Napi::Object o = info[0].As<Napi::Object>();
  auto str = [&](const char* k) {
    return o.Get(k).IsString() ? o.Get(k).As<Napi::String>().Utf8Value() : std::string();
  };
  auto flag = [&](const char* k) { return o.Get(k).ToBoolean().Value(); };

  auto core = std::make_shared<GpioCore>();
  std::string socName = str("soc");
  core->soc = MakeGpioSoc(socName, core->regs);
  if (!core->soc) {
    Napi::TypeError e =
        Napi::TypeError::New(env, "unknown SoC '" + socName + "' (known: bcm2835, bcm2836, bcm2837, bcm2711, rp1)");
    e.Set("code", "ESOC_UNKNOWN");
    throw e;
  }
  core->pinCount = core->soc->PinCount();
  core->allowReserved = flag("allowReserved");
  bool simulate = flag("simulate");
  std::string path = str("path");
  size_t size = core->soc->MapSize();

  HwStatus st = path.empty() ? core->region.MapAnonymous(size) : core->region.Map(path, size);
  if (!st.ok()) {
    std::string code = ErrnoCode(st.err);
    throw MakeHwError(
        env, {code.c_str(), OpenMessage(path, st.err, st.syscall, *core->soc), st.syscall, kPeripheral, st.err, path});
  }
  core->soc->AttachBlocks(core->region.data());
  for (unsigned pin = 0; pin < core->pinCount; pin++) core->pins[pin] = core->soc->PinRefs(pin);
  for (unsigned b = 0; b < core->soc->BankCount(); b++) core->banks[b] = core->soc->BankRefs(b);
  if (simulate) {
    core->model = MakeGpioModel(socName, core->region.data(), size);
    core->model->Install(core->regs);
  } else if (path.empty()) {
    throw Napi::TypeError::New(env, "a device path is needed unless simulate is set");
  }
  core->regs.SetTracing(flag("trace"));
  core->open = true;
  core_ = core;

  Napi::Object self = info.This().As<Napi::Object>();
  DefineFast(env, self, core, "write", FastWrite);
  DefineFast(env, self, core, "read", FastRead);
  DefineFast(env, self, core, "setMask", FastMask<true>);
  DefineFast(env, self, core, "clearMask", FastMask<false>);
  DefineFast(env, self, core, "readBank", FastReadBank);
  // A slot on the process-wide fast path, when this env owns it and a slot is free.
  if (g_fastOwner.load() == static_cast<napi_env>(env)) {
    for (int i = 0; i < kFastSlots; i++) {
      if (g_fast.cores[i] == nullptr) {
        g_fast.cores[i] = core.get();
        core->fastSlot = i;
        self.DefineProperty(Napi::PropertyDescriptor::Value("fastSlot", Napi::Number::New(env, i), napi_enumerable));
        break;
      }
    }
  }
  DefineFast(env, self, core, "mailboxWrite", MailboxWrite);
  DefineFast(env, self, core, "mailboxRead", MailboxRead);
  DefineFast(env, self, core, "mailboxSetMask", MailboxSetClear<true>);
  DefineFast(env, self, core, "mailboxClearMask", MailboxSetClear<false>);
  DefineFast(env, self, core, "mailboxReadBank", MailboxReadBank);
  // The mailbox as an Int32Array over core memory. The buffer keeps the core alive like the
  // functions do. Builds whose V8 forbids external buffers (sandboxed) get no mailbox, and src/hw
  // falls back to the argument path.
  napi_value ab;
  auto* keep = new std::shared_ptr<GpioCore>(core);
  napi_status s = napi_create_external_arraybuffer(
      env, core->mailbox, sizeof core->mailbox,
      [](napi_env, void*, void* hint) { delete static_cast<std::shared_ptr<GpioCore>*>(hint); }, keep, &ab);
  if (s == napi_ok) {
    napi_value view;
    NAPI_THROW_IF_FAILED_VOID(env, napi_create_typedarray(env, napi_int32_array, 4, ab, 0, &view));
    self.DefineProperty(Napi::PropertyDescriptor::Value("mailbox", Napi::Value(env, view), napi_enumerable));
  } else {
    delete keep;
    napi_value ignored;
    napi_get_and_clear_last_exception(env, &ignored);
  }
}

Napi::Value GpioChip::Info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const GpioSoc& soc = *core_->soc;
  Napi::Object r = Napi::Object::New(env);
  r.Set("soc", soc.Name());
  r.Set("pinCount", soc.PinCount());
  r.Set("mapSize", static_cast<double>(soc.MapSize()));
  r.Set("padControl", soc.HasPadControl());
  r.Set("simulated", core_->model != nullptr);
  r.Set("tracing", core_->regs.tracing());
  r.Set("open", core_->open);
  Napi::Array banks = Napi::Array::New(env, soc.BankCount());
  for (unsigned b = 0; b < soc.BankCount(); b++) {
    Napi::Object bank = Napi::Object::New(env);
    bank.Set("first", soc.BankFirstPin(b));
    bank.Set("width", soc.BankWidth(b));
    banks.Set(b, bank);
  }
  r.Set("banks", banks);
  return r;
}

#define PIC_REQUIRE_OPEN(env) \
  if (!core_->open) throw MakeHwError(env, Closed())
#define PIC_PIN(env, index, out) \
  unsigned out;                  \
  if (!CheckPin(env, core_.get(), info[index], &out)) throw env.GetAndClearPendingException()

Napi::Value GpioChip::SetFunction(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  PIC_REQUIRE_OPEN(env);
  PIC_PIN(env, 0, pin);
  Func f;
  if (!info[1].IsString() || !ParseFunc(info[1].As<Napi::String>().Utf8Value(), &f)) {
    ThrowType(env, "EMODE", "unknown mode: expected input, output, alt0-alt8 or none");
    throw env.GetAndClearPendingException();
  }
  if (!core_->soc->Supports(f)) {
    ThrowType(env, "EMODE_UNSUPPORTED",
              std::string("mode ") + kFuncNames[static_cast<unsigned>(f)] + " does not exist on " + core_->soc->Name());
    throw env.GetAndClearPendingException();
  }
  core_->soc->SetFunction(pin, f);
  return env.Undefined();
}

Napi::Value GpioChip::GetFunction(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  PIC_REQUIRE_OPEN(env);
  PIC_PIN(env, 0, pin);
  return Napi::String::New(env, kFuncNames[static_cast<unsigned>(core_->soc->GetFunction(pin))]);
}

Napi::Value GpioChip::SetPull(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  PIC_REQUIRE_OPEN(env);
  PIC_PIN(env, 0, pin);
  std::string p = info[1].IsString() ? info[1].As<Napi::String>().Utf8Value() : std::string();
  Pull pull;
  if (p == "none")
    pull = Pull::kNone;
  else if (p == "up")
    pull = Pull::kUp;
  else if (p == "down")
    pull = Pull::kDown;
  else {
    ThrowType(env, "EPULL", "unknown pull: expected none, up or down");
    throw env.GetAndClearPendingException();
  }
  core_->soc->SetPull(pin, pull);
  return env.Undefined();
}

Napi::Value GpioChip::SetDrive(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  PIC_REQUIRE_OPEN(env);
  PIC_PIN(env, 0, pin);
  if (!core_->soc->HasPadControl()) {
    throw MakeHwError(env, {"ENOTSUP",
                            std::string("drive strength is not settable on ") + core_->soc->Name(),
                            nullptr,
                            kPeripheral,
                            0,
                            {}});
  }
  double ma = info[1].IsNumber() ? info[1].As<Napi::Number>().DoubleValue() : -1;
  if (ma != 2 && ma != 4 && ma != 8 && ma != 12) {
    ThrowRange(env, "EDRIVE", "drive strength must be 2, 4, 8 or 12 mA");
    throw env.GetAndClearPendingException();
  }
  core_->soc->SetDrive(pin, static_cast<unsigned>(ma));
  return env.Undefined();
}

Napi::Value GpioChip::SetSlew(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  PIC_REQUIRE_OPEN(env);
  PIC_PIN(env, 0, pin);
  if (!core_->soc->HasPadControl()) {
    throw MakeHwError(
        env,
        {"ENOTSUP", std::string("slew rate is not settable on ") + core_->soc->Name(), nullptr, kPeripheral, 0, {}});
  }
  std::string s = info[1].IsString() ? info[1].As<Napi::String>().Utf8Value() : std::string();
  if (s != "slow" && s != "fast") {
    ThrowType(env, "ESLEW", "slew must be slow or fast");
    throw env.GetAndClearPendingException();
  }
  core_->soc->SetSlew(pin, s == "fast" ? Slew::kFast : Slew::kSlow);
  return env.Undefined();
}

// Diagnostics: one register access by block name and offset, through the same accessor (so it
// is traced and, when simulated, goes to the model). Checked against the chip's blocks only.
static Block CheckRegister(Napi::Env env, GpioCore& c, const Napi::CallbackInfo& info, uint32_t* offset) {
  Block b;
  std::string name = info[0].IsString() ? info[0].As<Napi::String>().Utf8Value() : std::string();
  if (!BlockFromName(name.c_str(), &b) || c.regs.BlockSize(b) == 0) {
    ThrowRange(env, "EREG_BLOCK", "no register block '" + name + "' on " + c.soc->Name());
    throw env.GetAndClearPendingException();
  }
  double d = info[1].IsNumber() ? info[1].As<Napi::Number>().DoubleValue() : -1;
  if (!(d >= 0 && d + 4 <= c.regs.BlockSize(b)) || d != std::floor(d) || static_cast<uint32_t>(d) % 4 != 0) {
    ThrowRange(env, "EREG_OFFSET", "register offset must be a multiple of 4 inside " + name);
    throw env.GetAndClearPendingException();
  }
  *offset = static_cast<uint32_t>(d);
  return b;
}

Napi::Value GpioChip::ReadRegister(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  PIC_REQUIRE_OPEN(env);
  uint32_t offset;
  Block b = CheckRegister(env, *core_, info, &offset);
  return Napi::Number::New(env, core_->regs.Read32(b, offset));
}

Napi::Value GpioChip::WriteRegister(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  PIC_REQUIRE_OPEN(env);
  uint32_t offset;
  Block b = CheckRegister(env, *core_, info, &offset);
  double v = info[2].IsNumber() ? info[2].As<Napi::Number>().DoubleValue() : -1;
  if (!(v >= 0 && v <= 4294967295.0) || v != std::floor(v)) {
    ThrowRange(env, "EREG_VALUE", "register value must be a 32-bit unsigned integer");
    throw env.GetAndClearPendingException();
  }
  core_->regs.Write32(b, offset, static_cast<uint32_t>(v));
  return env.Undefined();
}

Napi::Value GpioChip::Trace(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const auto& t = core_->regs.trace();
  Napi::Array out = Napi::Array::New(env, t.size());
  Napi::String read = Napi::String::New(env, "read"), write = Napi::String::New(env, "write"),
               delay = Napi::String::New(env, "delay");
  for (size_t i = 0; i < t.size(); i++) {
    const TraceEntry& e = t[i];
    Napi::Object o = Napi::Object::New(env);
    o.Set("seq", static_cast<double>(e.seq));
    o.Set("op", e.op == AccessOp::kRead ? read : e.op == AccessOp::kWrite ? write : delay);
    o.Set("block", e.op == AccessOp::kDelay ? env.Null() : Napi::String::New(env, BlockName(e.block)));
    o.Set("offset", e.offset);
    o.Set("value", e.value);
    out.Set(static_cast<uint32_t>(i), o);
  }
  return out;
}

Napi::Value GpioChip::ClearTrace(const Napi::CallbackInfo& info) {
  core_->regs.ClearTrace();
  return info.Env().Undefined();
}

// simDrive(pin, level | null): the outside world drives (0/1) or releases (null) a pin. Any pin
// may be driven, reserved ones included: this is the simulated circuit, not a register access.
Napi::Value GpioChip::SimDrive(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  PIC_REQUIRE_OPEN(env);
  if (!core_->model) {
    throw MakeHwError(
        env, {"ENOT_SIMULATED", "simDrive needs a chip opened with simulate: true", nullptr, kPeripheral, 0, {}});
  }
  double d;
  if (!Integer(env, info[0], "pin", "EPIN_TYPE", &d)) throw env.GetAndClearPendingException();
  if (!(d >= 0 && d < core_->pinCount) || d != std::floor(d)) {
    ThrowRange(env, "EPIN_RANGE", "pin is outside the chip's GPIO range");
    throw env.GetAndClearPendingException();
  }
  int level;
  if (info[1].IsNull() || info[1].IsUndefined())
    level = -1;
  else if (info[1].IsNumber() &&
           (info[1].As<Napi::Number>().DoubleValue() == 0 || info[1].As<Napi::Number>().DoubleValue() == 1))
    level = static_cast<int>(info[1].As<Napi::Number>().DoubleValue());
  else {
    ThrowType(env, "EVALUE", "level must be 0, 1 or null");
    throw env.GetAndClearPendingException();
  }
  core_->model->Drive(static_cast<unsigned>(d), level);
  return env.Undefined();
}

// benchToggle(pin, iterations): sets and clears the pin `iterations` times in a native loop
// through the same SoC code as write(); returns the elapsed nanoseconds.
Napi::Value GpioChip::BenchToggle(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  PIC_REQUIRE_OPEN(env);
  PIC_PIN(env, 0, pin);
  double n = info[1].IsNumber() ? info[1].As<Napi::Number>().DoubleValue() : 0;
  if (!(n >= 1 && n <= 1e9) || n != std::floor(n)) {
    ThrowRange(env, "EITERATIONS", "iterations must be an integer from 1 to 1e9");
    throw env.GetAndClearPendingException();
  }
  GpioSoc& soc = *core_->soc;
  auto t0 = std::chrono::steady_clock::now();
  for (uint64_t i = 0, end = static_cast<uint64_t>(n); i < end; i++) {
    soc.Write(pin, true);
    soc.Write(pin, false);
  }
  auto t1 = std::chrono::steady_clock::now();
  return Napi::Number::New(env,
                           static_cast<double>(std::chrono::duration_cast<std::chrono::nanoseconds>(t1 - t0).count()));
}

Napi::Value GpioChip::Close(const Napi::CallbackInfo& info) {
  core_->open = false;
  core_->region.Unmap();
  return info.Env().Undefined();
}

}  // namespace pc
