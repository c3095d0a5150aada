// GPIO through the kernel's character device, uAPI v2 (/dev/gpiochipN).
//
// GpioChip (CdevGpioChip here, apart from the register GpioChip of gpio.h) wraps the chip fd (chip info, line info,
// line requests). A line request is its own fd: LineRequest adopts it and offers get/set values, reconfiguration and
// edge events. Events are read on a native thread that sleeps in poll() on the request fd and an eventfd used to stop
// it, and they reach JS through a thread-safe function, so the event loop never blocks. The kernel numbers events
// (seqno per request, line_seqno per line); when its event FIFO overflows it drops events, and the gap in seqno is
// reported to JS as `lost` instead of being hidden.
#include <fcntl.h>
#include <linux/gpio.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "common/options.h"
#include "common/errors.h"
#include "bindings/bindings.h"

namespace pc {
namespace {

constexpr const char* kPeripheral = "gpiochip";

void ThrowErrno(Napi::Env env, const char* syscall, const std::string& detail) {
  ErrnoError(env, errno, syscall, kPeripheral, detail).ThrowAsJavaScriptException();
}

Napi::Object LineInfoObject(Napi::Env env, const gpio_v2_line_info& li) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("offset", li.offset);
  o.Set("name", std::string(li.name, strnlen(li.name, sizeof(li.name))));
  o.Set("consumer", std::string(li.consumer, strnlen(li.consumer, sizeof(li.consumer))));
  // Flags fit in a double: the highest defined bit is 11 (EVENT_CLOCK_HTE).
  o.Set("flags", Napi::Number::New(env, static_cast<double>(li.flags)));
  uint32_t debounce = 0;
  for (uint32_t i = 0; i < li.num_attrs && i < GPIO_V2_LINE_NUM_ATTRS_MAX; i++)
    if (li.attrs[i].id == GPIO_V2_LINE_ATTR_ID_DEBOUNCE) debounce = li.attrs[i].debounce_period_us;
  o.Set("debounceUs", debounce);
  return o;
}

/**
 * Fills a gpio_v2_line_config from { flags, debounceUs, outputMask, outputValues } where the masks
 * are over request line indices (bits 0..31; a request here holds at most 32 lines so that the
 * masks stay exact JS numbers).
 */
bool ReadConfig(Napi::Env env, const Napi::Value& v, uint32_t nlines, gpio_v2_line_config* cfg) {
  std::memset(cfg, 0, sizeof(*cfg));
  if (!v.IsObject()) {
    ThrowInvalid(env, "line config must be an object", kPeripheral);
    return false;
  }
  Napi::Object o = v.As<Napi::Object>();
  cfg->flags = static_cast<uint64_t>(opts::Int64(o, "flags"));
  uint64_t all = nlines >= 64 ? ~0ULL : ((1ULL << nlines) - 1);
  uint32_t n = 0;
  if (o.Get("debounceUs").IsNumber()) {
    uint32_t us = o.Get("debounceUs").As<Napi::Number>().Uint32Value();
    if (us > 0) {
      cfg->attrs[n].attr.id = GPIO_V2_LINE_ATTR_ID_DEBOUNCE;
      cfg->attrs[n].attr.debounce_period_us = us;
      cfg->attrs[n].mask = all;
      n++;
    }
  }
  if (o.Get("outputMask").IsNumber()) {
    uint64_t mask = o.Get("outputMask").As<Napi::Number>().Uint32Value() & all;
    uint64_t values = opts::Uint32(o, "outputValues");
    if (mask != 0) {
      cfg->attrs[n].attr.id = GPIO_V2_LINE_ATTR_ID_OUTPUT_VALUES;
      cfg->attrs[n].attr.values = values & mask;
      cfg->attrs[n].mask = mask;
      n++;
    }
  }
  cfg->num_attrs = n;
  return true;
}

class CdevGpioChip : public Napi::ObjectWrap<CdevGpioChip> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "GpioChip",
                       {
                           InstanceMethod<&CdevGpioChip::Info>("info"),
                           InstanceMethod<&CdevGpioChip::LineInfo>("lineInfo"),
                           InstanceMethod<&CdevGpioChip::Request>("request"),
                           InstanceMethod<&CdevGpioChip::Close>("close"),
                       });
  }

  explicit CdevGpioChip(const Napi::CallbackInfo& info) : Napi::ObjectWrap<CdevGpioChip>(info) {
    Napi::Env env = info.Env();
    if (!info[0].IsString()) {
      ThrowInvalid(env, "GpioChip needs a device path", kPeripheral);
      return;
    }
    path_ = info[0].As<Napi::String>().Utf8Value();
    fd_ = ::open(path_.c_str(), O_RDWR | O_CLOEXEC);
    if (fd_ < 0) ThrowErrno(env, "open", path_);
  }

  ~CdevGpioChip() override {
    if (fd_ >= 0) ::close(fd_);
  }

 private:
  bool Open(Napi::Env env) {
    if (fd_ >= 0) return true;
    CodedError(env, "ECLOSED", "the GPIO chip is closed", kPeripheral).ThrowAsJavaScriptException();
    return false;
  }

  Napi::Value Info(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!Open(env)) return env.Undefined();
    gpiochip_info ci{};
    if (ioctl(fd_, GPIO_GET_CHIPINFO_IOCTL, &ci) < 0)
      return ThrowErrno(env, "ioctl(GPIO_GET_CHIPINFO)", path_), env.Undefined();
    Napi::Object o = Napi::Object::New(env);
    o.Set("name", std::string(ci.name, strnlen(ci.name, sizeof(ci.name))));
    o.Set("label", std::string(ci.label, strnlen(ci.label, sizeof(ci.label))));
    o.Set("lines", ci.lines);
    return o;
  }

  Napi::Value LineInfo(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!Open(env)) return env.Undefined();
    if (!info[0].IsNumber()) return ThrowInvalid(env, "lineInfo needs a line offset", kPeripheral);
    gpio_v2_line_info li{};
    li.offset = info[0].As<Napi::Number>().Uint32Value();
    if (ioctl(fd_, GPIO_V2_GET_LINEINFO_IOCTL, &li) < 0)
      return ThrowErrno(env, "ioctl(GPIO_V2_GET_LINEINFO)", path_ + " line " + std::to_string(li.offset)),
             env.Undefined();
    return LineInfoObject(env, li);
  }

  // request(offsets: number[], config, consumer: string, eventBufferSize: number): number (the request fd)
  Napi::Value Request(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!Open(env)) return env.Undefined();
    if (!info[0].IsArray()) return ThrowInvalid(env, "request needs an array of line offsets", kPeripheral);
    Napi::Array offs = info[0].As<Napi::Array>();
    if (offs.Length() == 0 || offs.Length() > 32)
      return ThrowInvalid(env, "a request holds 1 to 32 lines", kPeripheral);
    gpio_v2_line_request req{};
    for (uint32_t i = 0; i < offs.Length(); i++) {
      if (!offs.Get(i).IsNumber()) return ThrowInvalid(env, "line offsets must be numbers", kPeripheral);
      req.offsets[i] = offs.Get(i).As<Napi::Number>().Uint32Value();
    }
    req.num_lines = offs.Length();
    if (!ReadConfig(env, info[1], req.num_lines, &req.config)) return env.Undefined();
    std::string consumer = info[2].IsString() ? info[2].As<Napi::String>().Utf8Value() : "pi-controller";
    std::strncpy(req.consumer, consumer.c_str(), sizeof(req.consumer) - 1);
    req.event_buffer_size = info[3].IsNumber() ? info[3].As<Napi::Number>().Uint32Value() : 0;
    if (ioctl(fd_, GPIO_V2_GET_LINE_IOCTL, &req) < 0)
      return ThrowErrno(env, "ioctl(GPIO_V2_GET_LINE)", path_), env.Undefined();
    return Napi::Number::New(env, req.fd);
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
    return info.Env().Undefined();
  }

  std::string path_;
  int fd_ = -1;
};

/** A batch of events read by the watcher thread, handed to JS in one call. */
struct EventBatch {
  std::vector<gpio_v2_line_event> events;
  uint64_t lost = 0;
};

void DeliverBatch(Napi::Env env, Napi::Function cb, std::nullptr_t*, EventBatch* batch) {
  std::unique_ptr<EventBatch> b(batch);
  if (env == nullptr || cb.IsEmpty()) return;  // the request was closed while this was queued
  Napi::Array arr = Napi::Array::New(env, b->events.size());
  for (size_t i = 0; i < b->events.size(); i++) {
    const gpio_v2_line_event& e = b->events[i];
    Napi::Object o = Napi::Object::New(env);
    o.Set("offset", e.offset);
    o.Set("edge", e.id == GPIO_V2_LINE_EVENT_RISING_EDGE ? "rising" : "falling");
    o.Set("timestampNs", Napi::BigInt::New(env, static_cast<uint64_t>(e.timestamp_ns)));
    o.Set("seqno", e.seqno);
    o.Set("lineSeqno", e.line_seqno);
    arr.Set(static_cast<uint32_t>(i), o);
  }
  cb.Call({arr, Napi::Number::New(env, static_cast<double>(b->lost))});
}

using EventTsfn = Napi::TypedThreadSafeFunction<std::nullptr_t, EventBatch, DeliverBatch>;

class LineRequest : public Napi::ObjectWrap<LineRequest> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "LineRequest",
                       {
                           InstanceMethod<&LineRequest::GetValues>("getValues"),
                           InstanceMethod<&LineRequest::SetValues>("setValues"),
                           InstanceMethod<&LineRequest::Reconfigure>("reconfigure"),
                           InstanceMethod<&LineRequest::Watch>("watch"),
                           InstanceMethod<&LineRequest::Unwatch>("unwatch"),
                           InstanceMethod<&LineRequest::Close>("close"),
                       });
  }

  // new LineRequest(fd, numLines): adopts a request fd returned by CdevGpioChip.request.
  explicit LineRequest(const Napi::CallbackInfo& info) : Napi::ObjectWrap<LineRequest>(info) {
    Napi::Env env = info.Env();
    if (!info[0].IsNumber() || !info[1].IsNumber()) {
      ThrowInvalid(env, "LineRequest needs a request fd and its line count", kPeripheral);
      return;
    }
    fd_ = info[0].As<Napi::Number>().Int32Value();
    nlines_ = info[1].As<Napi::Number>().Uint32Value();
  }

  ~LineRequest() override { Shutdown(); }

 private:
  bool Open(Napi::Env env) {
    if (fd_ >= 0) return true;
    CodedError(env, "ECLOSED", "the line request is closed", kPeripheral).ThrowAsJavaScriptException();
    return false;
  }

  uint64_t All() const { return nlines_ >= 64 ? ~0ULL : ((1ULL << nlines_) - 1); }

  // getValues(): number — bit i is the logical value of the request's line i.
  Napi::Value GetValues(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!Open(env)) return env.Undefined();
    gpio_v2_line_values v{0, All()};
    if (ioctl(fd_, GPIO_V2_LINE_GET_VALUES_IOCTL, &v) < 0)
      return ThrowErrno(env, "ioctl(GPIO_V2_LINE_GET_VALUES)", ""), env.Undefined();
    return Napi::Number::New(env, static_cast<double>(v.bits));
  }

  // setValues(mask, bits): sets the lines in mask (request line indices) to bits.
  Napi::Value SetValues(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!Open(env)) return env.Undefined();
    if (!info[0].IsNumber() || !info[1].IsNumber())
      return ThrowInvalid(env, "setValues needs mask and bits", kPeripheral);
    uint64_t mask = info[0].As<Napi::Number>().Uint32Value() & All();
    gpio_v2_line_values v{info[1].As<Napi::Number>().Uint32Value() & mask, mask};
    if (ioctl(fd_, GPIO_V2_LINE_SET_VALUES_IOCTL, &v) < 0)
      return ThrowErrno(env, "ioctl(GPIO_V2_LINE_SET_VALUES)", ""), env.Undefined();
    return env.Undefined();
  }

  Napi::Value Reconfigure(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!Open(env)) return env.Undefined();
    gpio_v2_line_config cfg{};
    if (!ReadConfig(env, info[0], nlines_, &cfg)) return env.Undefined();
    if (ioctl(fd_, GPIO_V2_LINE_SET_CONFIG_IOCTL, &cfg) < 0)
      return ThrowErrno(env, "ioctl(GPIO_V2_LINE_SET_CONFIG)", ""), env.Undefined();
    return env.Undefined();
  }

  // watch(callback(events, lost)): starts the event thread (once).
  Napi::Value Watch(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!Open(env)) return env.Undefined();
    if (!info[0].IsFunction()) return ThrowInvalid(env, "watch needs a callback", kPeripheral);
    if (thread_.joinable()) return ThrowInvalid(env, "the request is already watched", kPeripheral);
    stop_fd_ = eventfd(0, EFD_CLOEXEC);
    if (stop_fd_ < 0) return ThrowErrno(env, "eventfd", ""), env.Undefined();
    tsfn_ = EventTsfn::New(env, info[0].As<Napi::Function>(), "pi-controller:gpio-events", 0, 1, nullptr);
    int fd = fd_, stop = stop_fd_;
    EventTsfn tsfn = tsfn_;
    thread_ = std::thread([fd, stop, tsfn]() mutable { Loop(fd, stop, tsfn); });
    return env.Undefined();
  }

  static void Loop(int fd, int stop, EventTsfn tsfn) {
    uint32_t last_seqno = 0;
    gpio_v2_line_event buf[16];
    for (;;) {
      pollfd p[2] = {{fd, POLLIN, 0}, {stop, POLLIN, 0}};
      int r = poll(p, 2, -1);
      if (r < 0 && errno == EINTR) continue;
      if (r < 0 || (p[1].revents & POLLIN) || (p[0].revents & (POLLERR | POLLHUP | POLLNVAL))) break;
      if (!(p[0].revents & POLLIN)) continue;
      ssize_t n = ::read(fd, buf, sizeof(buf));
      if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
      if (n <= 0) break;
      auto* batch = new EventBatch();
      size_t count = static_cast<size_t>(n) / sizeof(gpio_v2_line_event);
      for (size_t i = 0; i < count; i++) {
        // seqno counts every event of the request from 1; a jump means the kernel's FIFO
        // overflowed and dropped events before we read them.
        if (last_seqno != 0 && buf[i].seqno > last_seqno + 1) batch->lost += buf[i].seqno - last_seqno - 1;
        if (last_seqno == 0 && buf[i].seqno > 1) batch->lost += buf[i].seqno - 1;
        last_seqno = buf[i].seqno;
        batch->events.push_back(buf[i]);
      }
      // Non-blocking with an unlimited queue: the thread never waits on JS, so close() can
      // always stop it. If JS falls behind, batches queue in memory (bounded by the event rate).
      if (tsfn.NonBlockingCall(batch) != napi_ok) {
        delete batch;
        break;
      }
    }
    tsfn.Release();
  }

  void StopThread() {
    if (!thread_.joinable()) return;
    uint64_t one = 1;
    if (::write(stop_fd_, &one, sizeof(one)) < 0) {
      // eventfd writes only fail on counter overflow, which one write cannot cause.
    }
    thread_.join();
    ::close(stop_fd_);
    stop_fd_ = -1;
  }

  Napi::Value Unwatch(const Napi::CallbackInfo& info) {
    StopThread();
    return info.Env().Undefined();
  }

  void Shutdown() {
    StopThread();
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

  // close(): stops the event thread (joined before returning) and releases the lines.
  Napi::Value Close(const Napi::CallbackInfo& info) {
    Shutdown();
    return info.Env().Undefined();
  }

  int fd_ = -1;
  uint32_t nlines_ = 0;
  int stop_fd_ = -1;
  std::thread thread_;
  EventTsfn tsfn_;
};

}  // namespace

Napi::Function DefineCdevGpioChip(Napi::Env env) { return CdevGpioChip::Define(env); }
Napi::Function DefineLineRequest(Napi::Env env) { return LineRequest::Define(env); }

}  // namespace pc
