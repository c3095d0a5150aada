#include "common/errors.h"

#include <cerrno>
#include <cstring>
#include <string>

namespace pc {

namespace {

struct ErrnoName {
  int err;
  const char* name;
};

// Every Linux errno by its own name. A table of the <errno.h> macros rather than libuv's
// uv_err_name (which names only the errnos libuv itself knows: EBADMSG, EDQUOT, ESTALE... would
// come out as "Unknown system error") or glibc's strerrorname_np (2.32 and later; the addon also
// builds from source on Raspberry Pi OS bullseye, glibc 2.31). Aliases are left out so that each
// number has one name: EWOULDBLOCK is EAGAIN, EDEADLOCK is EDEADLK, and ENOTSUP is EOPNOTSUPP
// (the name the kernel's I2C and GPIO code and its documentation use). The rarer ones are guarded,
// so a C library without one still builds.
const ErrnoName kErrnoNames[] = {
    {EPERM, "EPERM"},
    {ENOENT, "ENOENT"},
#ifdef ESRCH
    {ESRCH, "ESRCH"},
#endif
    {EINTR, "EINTR"},
    {EIO, "EIO"},
    {ENXIO, "ENXIO"},
#ifdef E2BIG
    {E2BIG, "E2BIG"},
#endif
#ifdef ENOEXEC
    {ENOEXEC, "ENOEXEC"},
#endif
    {EBADF, "EBADF"},
#ifdef ECHILD
    {ECHILD, "ECHILD"},
#endif
    {EAGAIN, "EAGAIN"},
    {ENOMEM, "ENOMEM"},
    {EACCES, "EACCES"},
    {EFAULT, "EFAULT"},
#ifdef ENOTBLK
    {ENOTBLK, "ENOTBLK"},
#endif
    {EBUSY, "EBUSY"},
    {EEXIST, "EEXIST"},
#ifdef EXDEV
    {EXDEV, "EXDEV"},
#endif
    {ENODEV, "ENODEV"},
    {ENOTDIR, "ENOTDIR"},
    {EISDIR, "EISDIR"},
    {EINVAL, "EINVAL"},
    {ENFILE, "ENFILE"},
    {EMFILE, "EMFILE"},
    {ENOTTY, "ENOTTY"},
#ifdef ETXTBSY
    {ETXTBSY, "ETXTBSY"},
#endif
    {EFBIG, "EFBIG"},
    {ENOSPC, "ENOSPC"},
#ifdef ESPIPE
    {ESPIPE, "ESPIPE"},
#endif
    {EROFS, "EROFS"},
#ifdef EMLINK
    {EMLINK, "EMLINK"},
#endif
    {EPIPE, "EPIPE"},
#ifdef EDOM
    {EDOM, "EDOM"},
#endif
    {ERANGE, "ERANGE"},
#ifdef EDEADLK
    {EDEADLK, "EDEADLK"},
#endif
    {ENAMETOOLONG, "ENAMETOOLONG"},
#ifdef ENOLCK
    {ENOLCK, "ENOLCK"},
#endif
    {ENOSYS, "ENOSYS"},
#ifdef ENOTEMPTY
    {ENOTEMPTY, "ENOTEMPTY"},
#endif
    {ELOOP, "ELOOP"},
#ifdef ENOMSG
    {ENOMSG, "ENOMSG"},
#endif
#ifdef EIDRM
    {EIDRM, "EIDRM"},
#endif
#ifdef ECHRNG
    {ECHRNG, "ECHRNG"},
#endif
#ifdef EL2NSYNC
    {EL2NSYNC, "EL2NSYNC"},
#endif
#ifdef EL3HLT
    {EL3HLT, "EL3HLT"},
#endif
#ifdef EL3RST
    {EL3RST, "EL3RST"},
#endif
#ifdef ELNRNG
    {ELNRNG, "ELNRNG"},
#endif
#ifdef EUNATCH
    {EUNATCH, "EUNATCH"},
#endif
#ifdef ENOCSI
    {ENOCSI, "ENOCSI"},
#endif
#ifdef EL2HLT
    {EL2HLT, "EL2HLT"},
#endif
#ifdef EBADE
    {EBADE, "EBADE"},
#endif
#ifdef EBADR
    {EBADR, "EBADR"},
#endif
#ifdef EXFULL
    {EXFULL, "EXFULL"},
#endif
#ifdef ENOANO
    {ENOANO, "ENOANO"},
#endif
#ifdef EBADRQC
    {EBADRQC, "EBADRQC"},
#endif
#ifdef EBADSLT
    {EBADSLT, "EBADSLT"},
#endif
#ifdef EBFONT
    {EBFONT, "EBFONT"},
#endif
#ifdef ENOSTR
    {ENOSTR, "ENOSTR"},
#endif
    {ENODATA, "ENODATA"},
#ifdef ETIME
    {ETIME, "ETIME"},
#endif
#ifdef ENOSR
    {ENOSR, "ENOSR"},
#endif
#ifdef ENONET
    {ENONET, "ENONET"},
#endif
#ifdef ENOPKG
    {ENOPKG, "ENOPKG"},
#endif
#ifdef EREMOTE
    {EREMOTE, "EREMOTE"},
#endif
#ifdef ENOLINK
    {ENOLINK, "ENOLINK"},
#endif
#ifdef EADV
    {EADV, "EADV"},
#endif
#ifdef ESRMNT
    {ESRMNT, "ESRMNT"},
#endif
#ifdef ECOMM
    {ECOMM, "ECOMM"},
#endif
    {EPROTO, "EPROTO"},
#ifdef EMULTIHOP
    {EMULTIHOP, "EMULTIHOP"},
#endif
#ifdef EDOTDOT
    {EDOTDOT, "EDOTDOT"},
#endif
#ifdef EBADMSG
    {EBADMSG, "EBADMSG"},
#endif
    {EOVERFLOW, "EOVERFLOW"},
#ifdef ENOTUNIQ
    {ENOTUNIQ, "ENOTUNIQ"},
#endif
#ifdef EBADFD
    {EBADFD, "EBADFD"},
#endif
#ifdef EREMCHG
    {EREMCHG, "EREMCHG"},
#endif
#ifdef ELIBACC
    {ELIBACC, "ELIBACC"},
#endif
#ifdef ELIBBAD
    {ELIBBAD, "ELIBBAD"},
#endif
#ifdef ELIBSCN
    {ELIBSCN, "ELIBSCN"},
#endif
#ifdef ELIBMAX
    {ELIBMAX, "ELIBMAX"},
#endif
#ifdef ELIBEXEC
    {ELIBEXEC, "ELIBEXEC"},
#endif
#ifdef EILSEQ
    {EILSEQ, "EILSEQ"},
#endif
#ifdef ERESTART
    {ERESTART, "ERESTART"},
#endif
#ifdef ESTRPIPE
    {ESTRPIPE, "ESTRPIPE"},
#endif
#ifdef EUSERS
    {EUSERS, "EUSERS"},
#endif
#ifdef ENOTSOCK
    {ENOTSOCK, "ENOTSOCK"},
#endif
#ifdef EDESTADDRREQ
    {EDESTADDRREQ, "EDESTADDRREQ"},
#endif
#ifdef EMSGSIZE
    {EMSGSIZE, "EMSGSIZE"},
#endif
#ifdef EPROTOTYPE
    {EPROTOTYPE, "EPROTOTYPE"},
#endif
#ifdef ENOPROTOOPT
    {ENOPROTOOPT, "ENOPROTOOPT"},
#endif
#ifdef EPROTONOSUPPORT
    {EPROTONOSUPPORT, "EPROTONOSUPPORT"},
#endif
#ifdef ESOCKTNOSUPPORT
    {ESOCKTNOSUPPORT, "ESOCKTNOSUPPORT"},
#endif
    {EOPNOTSUPP, "EOPNOTSUPP"},
#ifdef EPFNOSUPPORT
    {EPFNOSUPPORT, "EPFNOSUPPORT"},
#endif
#ifdef EAFNOSUPPORT
    {EAFNOSUPPORT, "EAFNOSUPPORT"},
#endif
#ifdef EADDRINUSE
    {EADDRINUSE, "EADDRINUSE"},
#endif
#ifdef EADDRNOTAVAIL
    {EADDRNOTAVAIL, "EADDRNOTAVAIL"},
#endif
#ifdef ENETDOWN
    {ENETDOWN, "ENETDOWN"},
#endif
#ifdef ENETUNREACH
    {ENETUNREACH, "ENETUNREACH"},
#endif
#ifdef ENETRESET
    {ENETRESET, "ENETRESET"},
#endif
#ifdef ECONNABORTED
    {ECONNABORTED, "ECONNABORTED"},
#endif
#ifdef ECONNRESET
    {ECONNRESET, "ECONNRESET"},
#endif
#ifdef ENOBUFS
    {ENOBUFS, "ENOBUFS"},
#endif
#ifdef EISCONN
    {EISCONN, "EISCONN"},
#endif
#ifdef ENOTCONN
    {ENOTCONN, "ENOTCONN"},
#endif
#ifdef ESHUTDOWN
    {ESHUTDOWN, "ESHUTDOWN"},
#endif
#ifdef ETOOMANYREFS
    {ETOOMANYREFS, "ETOOMANYREFS"},
#endif
    {ETIMEDOUT, "ETIMEDOUT"},
#ifdef ECONNREFUSED
    {ECONNREFUSED, "ECONNREFUSED"},
#endif
#ifdef EHOSTDOWN
    {EHOSTDOWN, "EHOSTDOWN"},
#endif
#ifdef EHOSTUNREACH
    {EHOSTUNREACH, "EHOSTUNREACH"},
#endif
#ifdef EALREADY
    {EALREADY, "EALREADY"},
#endif
#ifdef EINPROGRESS
    {EINPROGRESS, "EINPROGRESS"},
#endif
#ifdef ESTALE
    {ESTALE, "ESTALE"},
#endif
#ifdef EUCLEAN
    {EUCLEAN, "EUCLEAN"},
#endif
#ifdef ENOTNAM
    {ENOTNAM, "ENOTNAM"},
#endif
#ifdef ENAVAIL
    {ENAVAIL, "ENAVAIL"},
#endif
#ifdef EISNAM
    {EISNAM, "EISNAM"},
#endif
    {EREMOTEIO, "EREMOTEIO"},
#ifdef EDQUOT
    {EDQUOT, "EDQUOT"},
#endif
#ifdef ENOMEDIUM
    {ENOMEDIUM, "ENOMEDIUM"},
#endif
#ifdef EMEDIUMTYPE
    {EMEDIUMTYPE, "EMEDIUMTYPE"},
#endif
    {ECANCELED, "ECANCELED"},
#ifdef ENOKEY
    {ENOKEY, "ENOKEY"},
#endif
#ifdef EKEYEXPIRED
    {EKEYEXPIRED, "EKEYEXPIRED"},
#endif
#ifdef EKEYREVOKED
    {EKEYREVOKED, "EKEYREVOKED"},
#endif
#ifdef EKEYREJECTED
    {EKEYREJECTED, "EKEYREJECTED"},
#endif
#ifdef EOWNERDEAD
    {EOWNERDEAD, "EOWNERDEAD"},
#endif
#ifdef ENOTRECOVERABLE
    {ENOTRECOVERABLE, "ENOTRECOVERABLE"},
#endif
#ifdef ERFKILL
    {ERFKILL, "ERFKILL"},
#endif
#ifdef EHWPOISON
    {EHWPOISON, "EHWPOISON"},
#endif
};

}  // namespace

std::string ErrnoCode(int err) {
  for (const ErrnoName& e : kErrnoNames)
    if (e.err == err) return e.name;
  // Not a Linux errno at all: still its own code, never a borrowed one such as EIO.
  return "E" + std::to_string(err);
}

Napi::Error MakeHwError(Napi::Env env, const HwErrorInfo& info) {
  Napi::Object opts = Napi::Object::New(env);
  opts.Set("code", info.code);
  if (info.syscall != nullptr) opts.Set("syscall", info.syscall);
  if (info.peripheral != nullptr) opts.Set("peripheral", info.peripheral);
  if (info.errnum != 0) opts.Set("errno", info.errnum);
  if (!info.path.empty()) opts.Set("path", info.path);
  AddonData* data = env.GetInstanceData<AddonData>();
  if (data != nullptr && !data->errorClass.IsEmpty()) {
    Napi::Value e = data->errorClass.New({Napi::String::New(env, info.message), opts});
    if (!env.IsExceptionPending() && e.IsObject()) return Napi::Error(env, e);
  }
  // No class registered (a bare require of the binary): a plain Error with the same fields.
  Napi::Error e = Napi::Error::New(env, info.message);
  for (const char* k : {"code", "syscall", "peripheral", "errno", "path"}) {
    if (opts.Has(k)) e.Value().Set(k, opts.Get(k));
  }
  return e;
}

napi_value ThrowRange(napi_env env, const char* code, const std::string& message) {
  napi_throw_range_error(env, code, message.c_str());
  return nullptr;
}

napi_value ThrowType(napi_env env, const char* code, const std::string& message) {
  napi_throw_type_error(env, code, message.c_str());
  return nullptr;
}

napi_value ThrowHw(napi_env env, const HwErrorInfo& info) {
  Napi::Env e(env);
  MakeHwError(e, info).ThrowAsJavaScriptException();
  return nullptr;
}

Napi::Error ErrnoError(Napi::Env env, int err, const std::string& syscall, const std::string& peripheral,
                       const std::string& path) {
  std::string code = ErrnoCode(err);
  HwErrorInfo info;
  info.code = code.c_str();
  info.message = code + ": " + std::strerror(err) + ", " + syscall + (path.empty() ? "" : " (" + path + ")");
  info.syscall = syscall.c_str();
  info.peripheral = peripheral.c_str();
  info.errnum = err;
  info.path = path;
  return MakeHwError(env, info);
}

Napi::Error CodedError(Napi::Env env, const std::string& code, const std::string& message,
                       const std::string& peripheral) {
  HwErrorInfo info;
  info.code = code.c_str();
  info.message = code + ": " + message;
  info.peripheral = peripheral.c_str();
  return MakeHwError(env, info);
}

Napi::Value ThrowInvalid(Napi::Env env, const std::string& message, const std::string& peripheral) {
  CodedError(env, "EINVAL", message, peripheral).ThrowAsJavaScriptException();
  return env.Undefined();
}

}  // namespace pc
