// I2C through the kernel's i2c-dev interface (/dev/i2c-N).
//
// Every transfer blocks in the kernel until the adapter finishes (or times out), so each one runs
// on a libuv worker thread (Napi::AsyncWorker) and settles a promise. Transfers on one bus are
// serialised by a mutex keyed by the device number, so two I2cBus objects on the same /dev/i2c-N
// (or a multi-step SMBus fallback) never interleave. The fd is shared with the workers through a
// shared_ptr: close() marks the bus closed, and the fd is closed when the last pending transfer ends.
#include <fcntl.h>
#include <linux/i2c-dev.h>
#include <linux/i2c.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/options.h"
#include "common/errors.h"
#include "bindings/bindings.h"

namespace pc {
namespace {

constexpr const char* kPeripheral = "i2c";

std::mutex g_bus_locks_mu;
std::map<dev_t, std::weak_ptr<std::mutex>> g_bus_locks;

/** The mutex shared by every open handle of the same bus device. */
std::shared_ptr<std::mutex> BusLock(dev_t dev) {
  std::lock_guard<std::mutex> lock(g_bus_locks_mu);
  auto& w = g_bus_locks[dev];
  auto m = w.lock();
  if (!m) {
    m = std::make_shared<std::mutex>();
    w = m;
  }
  return m;
}

struct Bus {
  int fd = -1;
  std::string path;
  std::shared_ptr<std::mutex> lock;
  // Last values given to I2C_TIMEOUT / I2C_RETRIES, so they are only set when they change.
  int timeout_10ms = -1;
  int retries = -1;
  ~Bus() {
    if (fd >= 0) ::close(fd);
  }
};

/** Result of a blocking step: 0 or a positive errno, and the system call that failed. */
struct Status {
  int err = 0;
  const char* syscall = "";
};

Status Fail(const char* syscall) { return Status{errno, syscall}; }

/** Applies the per-transfer timeout and retry count (caller holds the bus lock). */
Status ApplyLimits(Bus& bus, int timeout_ms, int retries) {
  if (timeout_ms >= 0) {
    // I2C_TIMEOUT takes units of 10 ms; round up so a small timeout never becomes 0 (= default).
    int t = (timeout_ms + 9) / 10;
    if (t < 1) t = 1;
    if (t != bus.timeout_10ms) {
      if (ioctl(bus.fd, I2C_TIMEOUT, static_cast<unsigned long>(t)) < 0) return Fail("ioctl(I2C_TIMEOUT)");
      bus.timeout_10ms = t;
    }
  }
  if (retries >= 0 && retries != bus.retries) {
    if (ioctl(bus.fd, I2C_RETRIES, static_cast<unsigned long>(retries)) < 0) return Fail("ioctl(I2C_RETRIES)");
    bus.retries = retries;
  }
  return {};
}

Status SetAddress(Bus& bus, int addr, bool force, bool ten_bit) {
  if (ioctl(bus.fd, I2C_TENBIT, ten_bit ? 1UL : 0UL) < 0) return Fail("ioctl(I2C_TENBIT)");
  if (ioctl(bus.fd, force ? I2C_SLAVE_FORCE : I2C_SLAVE, static_cast<unsigned long>(addr)) < 0)
    return Fail(force ? "ioctl(I2C_SLAVE_FORCE)" : "ioctl(I2C_SLAVE)");
  return {};
}

/** One asynchronous bus operation: `work` runs on a worker thread under the bus lock. */
class BusWorker : public Napi::AsyncWorker {
 public:
  using Work = std::function<Status(Bus&)>;
  using Result = std::function<Napi::Value(Napi::Env)>;

  BusWorker(Napi::Env env, std::shared_ptr<Bus> bus, int timeout_ms, int retries, Work work, Result result)
      : Napi::AsyncWorker(env, "pi-controller:i2c"),
        deferred_(Napi::Promise::Deferred::New(env)),
        bus_(std::move(bus)),
        timeout_ms_(timeout_ms),
        retries_(retries),
        work_(std::move(work)),
        result_(std::move(result)) {}

  Napi::Promise Promise() { return deferred_.Promise(); }

  void Execute() override {
    std::lock_guard<std::mutex> lock(*bus_->lock);
    status_ = ApplyLimits(*bus_, timeout_ms_, retries_);
    if (status_.err == 0) status_ = work_(*bus_);
  }

  void OnOK() override {
    Napi::Env env = Env();
    if (status_.err != 0) {
      deferred_.Reject(ErrnoError(env, status_.err, status_.syscall, kPeripheral, bus_->path).Value());
      return;
    }
    deferred_.Resolve(result_ ? result_(env) : env.Undefined());
  }

 private:
  Napi::Promise::Deferred deferred_;
  std::shared_ptr<Bus> bus_;
  int timeout_ms_;
  int retries_;
  Work work_;
  Result result_;
  Status status_;
};

/** Options common to every transfer: { timeoutMs, retries, force }. */
struct XferOpts {
  int timeout_ms = -1;
  int retries = -1;
  bool force = false;
};

XferOpts ReadOpts(const Napi::Value& v) {
  XferOpts o;
  if (!v.IsObject()) return o;
  Napi::Object obj = v.As<Napi::Object>();
  if (obj.Get("timeoutMs").IsNumber()) o.timeout_ms = obj.Get("timeoutMs").As<Napi::Number>().Int32Value();
  if (obj.Get("retries").IsNumber()) o.retries = obj.Get("retries").As<Napi::Number>().Int32Value();
  if (obj.Get("force").IsBoolean()) o.force = obj.Get("force").As<Napi::Boolean>().Value();
  return o;
}

class I2cBus : public Napi::ObjectWrap<I2cBus> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "I2cBus",
                       {
                           InstanceMethod<&I2cBus::Funcs>("funcs"),
                           InstanceMethod<&I2cBus::Transfer>("transfer"),
                           InstanceMethod<&I2cBus::Smbus>("smbus"),
                           InstanceMethod<&I2cBus::Read>("read"),
                           InstanceMethod<&I2cBus::Write>("write"),
                           InstanceMethod<&I2cBus::Scan>("scan"),
                           InstanceMethod<&I2cBus::Close>("close"),
                       });
  }

  explicit I2cBus(const Napi::CallbackInfo& info) : Napi::ObjectWrap<I2cBus>(info) {
    Napi::Env env = info.Env();
    if (!info[0].IsString()) {
      ThrowInvalid(env, "I2cBus needs a device path", kPeripheral);
      return;
    }
    auto bus = std::make_shared<Bus>();
    bus->path = info[0].As<Napi::String>().Utf8Value();
    bus->fd = ::open(bus->path.c_str(), O_RDWR | O_CLOEXEC);
    if (bus->fd < 0) {
      ErrnoError(env, errno, "open", kPeripheral, bus->path).ThrowAsJavaScriptException();
      return;
    }
    struct stat st {};
    if (fstat(bus->fd, &st) < 0 || !S_ISCHR(st.st_mode)) {
      CodedError(env, "ENOTTY", bus->path + " is not a character device", kPeripheral).ThrowAsJavaScriptException();
      return;
    }
    bus->lock = BusLock(st.st_rdev);
    bus_ = std::move(bus);
  }

 private:
  bool Open(Napi::Env env) {
    if (bus_) return true;
    CodedError(env, "ECLOSED", "the I2C bus is closed", kPeripheral).ThrowAsJavaScriptException();
    return false;
  }

  static bool Addr(const Napi::Value& v, int* out) {
    if (!v.IsNumber()) return false;
    double d = v.As<Napi::Number>().DoubleValue();
    if (d < 0 || d > 0x3ff || d != static_cast<int>(d)) return false;
    *out = static_cast<int>(d);
    return true;
  }

  // funcs(): the adapter's I2C_FUNC_* bit mask (no bus traffic, so synchronous).
  Napi::Value Funcs(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!Open(env)) return env.Undefined();
    unsigned long funcs = 0;
    if (ioctl(bus_->fd, I2C_FUNCS, &funcs) < 0)
      return (ErrnoError(env, errno, "ioctl(I2C_FUNCS)", kPeripheral, bus_->path).ThrowAsJavaScriptException(),
              env.Undefined());
    return Napi::Number::New(env, static_cast<double>(funcs & 0xffffffffUL));
  }

  // transfer(msgs: {addr, flags, data?: Buffer, length?: number}[], opts): Promise<Buffer[]>
  // One I2C_RDWR: the messages go out with repeated starts between them and one stop at the end.
  Napi::Value Transfer(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!Open(env)) return env.Undefined();
    if (!info[0].IsArray()) return ThrowInvalid(env, "transfer needs an array of messages", kPeripheral);
    Napi::Array arr = info[0].As<Napi::Array>();
    if (arr.Length() == 0 || arr.Length() > I2C_RDWR_IOCTL_MAX_MSGS)
      return ThrowInvalid(env, "a transfer has 1 to 42 messages", kPeripheral);
    struct Msg {
      uint16_t addr, flags;
      std::vector<uint8_t> buf;
    };
    auto msgs = std::make_shared<std::vector<Msg>>();
    for (uint32_t i = 0; i < arr.Length(); i++) {
      Napi::Value v = arr.Get(i);
      if (!v.IsObject()) return ThrowInvalid(env, "message " + std::to_string(i) + " is not an object", kPeripheral);
      Napi::Object o = v.As<Napi::Object>();
      Msg m{};
      int addr = 0;
      if (!Addr(o.Get("addr"), &addr))
        return ThrowInvalid(env, "message " + std::to_string(i) + ": bad address", kPeripheral);
      m.addr = static_cast<uint16_t>(addr);
      m.flags = static_cast<uint16_t>(opts::Uint32(o, "flags"));
      if (m.flags & I2C_M_RD) {
        uint32_t len = opts::Uint32(o, "length");
        if (len == 0 || len > 8192) return ThrowInvalid(env, "read length must be 1..8192", kPeripheral);
        m.buf.resize(len);
      } else {
        if (!o.Get("data").IsBuffer()) return ThrowInvalid(env, "write message needs data", kPeripheral);
        auto b = o.Get("data").As<Napi::Buffer<uint8_t>>();
        if (b.Length() > 8192) return ThrowInvalid(env, "write length must be at most 8192", kPeripheral);
        m.buf.assign(b.Data(), b.Data() + b.Length());
      }
      msgs->push_back(std::move(m));
    }
    XferOpts o = ReadOpts(info[1]);
    auto* w = new BusWorker(
        env, bus_, o.timeout_ms, o.retries,
        [msgs](Bus& bus) -> Status {
          std::vector<i2c_msg> k(msgs->size());
          for (size_t i = 0; i < msgs->size(); i++) {
            Msg& m = (*msgs)[i];
            k[i].addr = m.addr;
            k[i].flags = m.flags;
            k[i].len = static_cast<uint16_t>(m.buf.size());
            k[i].buf = m.buf.data();
          }
          i2c_rdwr_ioctl_data data{k.data(), static_cast<uint32_t>(k.size())};
          int n = ioctl(bus.fd, I2C_RDWR, &data);
          if (n < 0) return Fail("ioctl(I2C_RDWR)");
          // A short count means the adapter stopped early without an error code.
          if (static_cast<size_t>(n) != k.size()) return Status{EIO, "ioctl(I2C_RDWR)"};
          return {};
        },
        [msgs](Napi::Env e) -> Napi::Value {
          Napi::Array out = Napi::Array::New(e);
          uint32_t j = 0;
          for (auto& m : *msgs)
            if (m.flags & I2C_M_RD) out.Set(j++, Napi::Buffer<uint8_t>::Copy(e, m.buf.data(), m.buf.size()));
          return out;
        });
    Napi::Promise p = w->Promise();
    w->Queue();
    return p;
  }

  // smbus(addr, readWrite, command, size, data: Buffer(34) | null, opts): Promise<Buffer(34)>
  // One I2C_SMBUS call; the union i2c_smbus_data travels as its raw 34 bytes and TS decodes it.
  Napi::Value Smbus(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!Open(env)) return env.Undefined();
    int addr = 0;
    if (!Addr(info[0], &addr) || addr > 0x7f) return ThrowInvalid(env, "bad 7-bit address", kPeripheral);
    if (!info[1].IsNumber() || !info[2].IsNumber() || !info[3].IsNumber())
      return ThrowInvalid(env, "smbus needs readWrite, command and size", kPeripheral);
    uint8_t rw = static_cast<uint8_t>(info[1].As<Napi::Number>().Uint32Value());
    uint8_t cmd = static_cast<uint8_t>(info[2].As<Napi::Number>().Uint32Value());
    uint32_t size = info[3].As<Napi::Number>().Uint32Value();
    auto data = std::make_shared<i2c_smbus_data>();
    std::memset(data.get(), 0, sizeof(i2c_smbus_data));
    if (info[4].IsBuffer()) {
      auto b = info[4].As<Napi::Buffer<uint8_t>>();
      std::memcpy(data.get(), b.Data(), std::min(b.Length(), sizeof(i2c_smbus_data)));
    }
    XferOpts o = ReadOpts(info[5]);
    auto* w = new BusWorker(
        env, bus_, o.timeout_ms, o.retries,
        [=](Bus& bus) -> Status {
          Status s = SetAddress(bus, addr, o.force, false);
          if (s.err) return s;
          i2c_smbus_ioctl_data args{rw, cmd, size, data.get()};
          if (ioctl(bus.fd, I2C_SMBUS, &args) < 0) return Fail("ioctl(I2C_SMBUS)");
          return {};
        },
        [data](Napi::Env e) -> Napi::Value {
          return Napi::Buffer<uint8_t>::Copy(e, reinterpret_cast<uint8_t*>(data.get()), sizeof(i2c_smbus_data));
        });
    Napi::Promise p = w->Promise();
    w->Queue();
    return p;
  }

  // read(addr, length, opts): Promise<Buffer> — a plain read() with its own start and stop.
  Napi::Value Read(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!Open(env)) return env.Undefined();
    int addr = 0;
    if (!Addr(info[0], &addr)) return ThrowInvalid(env, "bad address", kPeripheral);
    uint32_t len = info[1].IsNumber() ? info[1].As<Napi::Number>().Uint32Value() : 0;
    if (len == 0 || len > 8192) return ThrowInvalid(env, "read length must be 1..8192", kPeripheral);
    auto buf = std::make_shared<std::vector<uint8_t>>(len);
    XferOpts o = ReadOpts(info[2]);
    auto* w = new BusWorker(
        env, bus_, o.timeout_ms, o.retries,
        [=](Bus& bus) -> Status {
          Status s = SetAddress(bus, addr & 0x3ff, o.force, addr > 0x7f);
          if (s.err) return s;
          ssize_t n = ::read(bus.fd, buf->data(), buf->size());
          if (n < 0) return Fail("read");
          if (static_cast<size_t>(n) != buf->size()) return Status{EIO, "read"};
          return {};
        },
        [buf](Napi::Env e) -> Napi::Value { return Napi::Buffer<uint8_t>::Copy(e, buf->data(), buf->size()); });
    Napi::Promise p = w->Promise();
    w->Queue();
    return p;
  }

  // write(addr, data, opts): Promise<void> — a plain write() with its own start and stop.
  Napi::Value Write(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!Open(env)) return env.Undefined();
    int addr = 0;
    if (!Addr(info[0], &addr)) return ThrowInvalid(env, "bad address", kPeripheral);
    if (!info[1].IsBuffer()) return ThrowInvalid(env, "write needs a Buffer", kPeripheral);
    auto b = info[1].As<Napi::Buffer<uint8_t>>();
    if (b.Length() > 8192) return ThrowInvalid(env, "write length must be at most 8192", kPeripheral);
    auto buf = std::make_shared<std::vector<uint8_t>>(b.Data(), b.Data() + b.Length());
    XferOpts o = ReadOpts(info[2]);
    auto* w = new BusWorker(
        env, bus_, o.timeout_ms, o.retries,
        [=](Bus& bus) -> Status {
          Status s = SetAddress(bus, addr & 0x3ff, o.force, addr > 0x7f);
          if (s.err) return s;
          ssize_t n = ::write(bus.fd, buf->data(), buf->size());
          if (n < 0) return Fail("write");
          if (static_cast<size_t>(n) != buf->size()) return Status{EIO, "write"};
          return {};
        },
        nullptr);
    Napi::Promise p = w->Promise();
    w->Queue();
    return p;
  }

  // scan(first, last, mode, opts): Promise<{ present: number[], busy: number[] }>
  // The probe rules of i2cdetect's default mode: SMBus receive-byte for 0x30-0x37 and 0x50-0x5F
  // (a quick write there can change write-protect state or EEPROM address pointers), SMBus quick
  // write elsewhere; mode 1 forces quick, mode 2 forces read. An address claimed by a kernel
  // driver (EBUSY from I2C_SLAVE) is reported as busy and not probed.
  Napi::Value Scan(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!Open(env)) return env.Undefined();
    int first = 0, last = 0;
    if (!Addr(info[0], &first) || !Addr(info[1], &last) || first > last || last > 0x7f)
      return ThrowInvalid(env, "scan range must lie in 0x00..0x7f", kPeripheral);
    int mode = info[2].IsNumber() ? info[2].As<Napi::Number>().Int32Value() : 0;
    if (mode < 0 || mode > 2)
      return ThrowInvalid(env, "scan mode must be 0 (auto), 1 (quick) or 2 (read)", kPeripheral);
    auto present = std::make_shared<std::vector<int>>();
    auto busy = std::make_shared<std::vector<int>>();
    XferOpts o = ReadOpts(info[3]);
    auto* w = new BusWorker(
        env, bus_, o.timeout_ms, o.retries,
        [=](Bus& bus) -> Status {
          unsigned long funcs = 0;
          if (ioctl(bus.fd, I2C_FUNCS, &funcs) < 0) return Fail("ioctl(I2C_FUNCS)");
          bool can_quick = funcs & I2C_FUNC_SMBUS_QUICK, can_read = funcs & I2C_FUNC_SMBUS_READ_BYTE;
          if ((mode == 1 && !can_quick) || (mode == 2 && !can_read) || (!can_quick && !can_read))
            return Status{EOPNOTSUPP, "ioctl(I2C_FUNCS)"};
          if (ioctl(bus.fd, I2C_TENBIT, 0UL) < 0) return Fail("ioctl(I2C_TENBIT)");
          for (int a = first; a <= last; a++) {
            if (ioctl(bus.fd, I2C_SLAVE, static_cast<unsigned long>(a)) < 0) {
              if (errno == EBUSY) {
                busy->push_back(a);
                continue;
              }
              return Fail("ioctl(I2C_SLAVE)");
            }
            bool read_range = (a >= 0x30 && a <= 0x37) || (a >= 0x50 && a <= 0x5f);
            bool use_read = mode == 2 || (mode == 0 && (read_range ? can_read : !can_quick));
            i2c_smbus_data d{};
            i2c_smbus_ioctl_data args{};
            if (use_read) {
              args = {I2C_SMBUS_READ, 0, I2C_SMBUS_BYTE, &d};
            } else {
              args = {I2C_SMBUS_WRITE, 0, I2C_SMBUS_QUICK, nullptr};
            }
            if (ioctl(bus.fd, I2C_SMBUS, &args) == 0) present->push_back(a);
          }
          return {};
        },
        [present, busy](Napi::Env e) -> Napi::Value {
          Napi::Object out = Napi::Object::New(e);
          Napi::Array p = Napi::Array::New(e), b = Napi::Array::New(e);
          for (size_t i = 0; i < present->size(); i++) p.Set(static_cast<uint32_t>(i), (*present)[i]);
          for (size_t i = 0; i < busy->size(); i++) b.Set(static_cast<uint32_t>(i), (*busy)[i]);
          out.Set("present", p);
          out.Set("busy", b);
          return out;
        });
    Napi::Promise p = w->Promise();
    w->Queue();
    return p;
  }

  // close(): no new transfers; the fd closes when pending transfers have finished.
  Napi::Value Close(const Napi::CallbackInfo& info) {
    bus_.reset();
    return info.Env().Undefined();
  }

  std::shared_ptr<Bus> bus_;
};

}  // namespace

Napi::Function DefineI2cBus(Napi::Env env) { return I2cBus::Define(env); }

}  // namespace pc
