#include "hal/bsc.h"

#include <cerrno>

namespace pc {

uint32_t BscMaster::Configure(uint32_t core_hz, uint32_t scl_hz, uint32_t stretch_timeout_cycles) {
  if (core_hz == 0 || scl_hz == 0) return 0;
  uint32_t cdiv = (core_hz + scl_hz - 1) / scl_hz;
  cdiv += cdiv & 1;  // "CDIV is always rounded down to an even number": make it even ourselves
  if (cdiv < 2 || cdiv > 0xfffe) return 0;
  regs_.Write32(Block::kBsc, kDiv, cdiv);
  // Data is changed FEDL core cycles after a falling edge and sampled REDL cycles after a rising
  // edge; the reset values (0x30/0x30) are too short for fast SCL at high core clocks.
  uint32_t fedl = cdiv / 16 ? cdiv / 16 : 1, redl = cdiv / 4 ? cdiv / 4 : 1;
  regs_.Write32(Block::kBsc, kDel, (fedl << 16) | redl);
  regs_.Write32(Block::kBsc, kClkt, stretch_timeout_cycles & 0xffff);
  return core_hz / cdiv;
}

// Common start of every transfer: empty the FIFO, clear the sticky status bits, then address and
// length. The FIFO clear and the status clear must come before DLEN/A, since a stale DONE or ERR
// from the previous transfer would end the new one at once.
void BscMaster::Start(uint8_t addr, size_t len) {
  regs_.Write32(Block::kBsc, kC, kCClear);
  regs_.Write32(Block::kBsc, kS, kSClkt | kSErr | kSDone);
  regs_.Write32(Block::kBsc, kA, addr);
  regs_.Write32(Block::kBsc, kDlen, static_cast<uint32_t>(len));
}

BscResult BscMaster::Finish(uint32_t s, uint32_t polls) {
  regs_.Write32(Block::kBsc, kS, kSClkt | kSErr | kSDone);
  if (s & kSClkt) return {ETIMEDOUT, "clock stretch timeout (S.CLKT)"};
  // The BSC reports any missing ACK (address or data) as ERR.
  if (s & kSErr) return {ENXIO, "no ACK (S.ERR)"};
  if (polls >= kMaxPolls) return {ETIMEDOUT, "the transfer did not finish (no S.DONE)"};
  return {};
}

BscResult BscMaster::Write(uint8_t addr, const uint8_t* data, size_t len) {
  if (len > 0xffff) return {EINVAL, "DLEN is 16 bits"};
  Start(addr, len);
  size_t sent = 0;
  // Pre-fill the FIFO so the controller does not stall on the first byte.
  while (sent < len && sent < kFifoDepth) regs_.Write32(Block::kBsc, kFifo, data[sent++]);
  regs_.Write32(Block::kBsc, kC, kCI2cEn | kCSt);
  uint32_t s = 0, polls = 0;
  for (; polls < kMaxPolls; polls++) {
    s = regs_.Read32(Block::kBsc, kS);
    if (s & (kSErr | kSClkt | kSDone)) break;
    while (sent < len && (s & kSTxd)) {
      regs_.Write32(Block::kBsc, kFifo, data[sent++]);
      s = regs_.Read32(Block::kBsc, kS);
    }
  }
  return Finish(s, polls);
}

BscResult BscMaster::Read(uint8_t addr, uint8_t* data, size_t len) {
  if (len == 0 || len > 0xffff) return {EINVAL, "read length is 1..65535"};
  Start(addr, len);
  regs_.Write32(Block::kBsc, kC, kCI2cEn | kCSt | kCRead);
  size_t got = 0;
  uint32_t s = 0, polls = 0;
  for (; polls < kMaxPolls; polls++) {
    s = regs_.Read32(Block::kBsc, kS);
    while (got < len && (s & kSRxd)) {
      data[got++] = static_cast<uint8_t>(regs_.Read32(Block::kBsc, kFifo));
      s = regs_.Read32(Block::kBsc, kS);
    }
    if (s & (kSErr | kSClkt)) break;
    if ((s & kSDone) && !(s & kSRxd)) break;  // done and the FIFO drained
  }
  BscResult r = Finish(s, polls);
  if (r.err == 0 && got != len) return {EIO, "fewer bytes than DLEN"};
  return r;
}

BscResult BscMaster::WriteRead(uint8_t addr, const uint8_t* wdata, size_t wlen, uint8_t* rdata, size_t rlen) {
  if (wlen == 0 || wlen > kFifoDepth) return {EINVAL, "a combined write is 1..16 bytes"};
  if (rlen == 0 || rlen > 0xffff) return {EINVAL, "read length is 1..65535"};
  Start(addr, wlen);
  for (size_t i = 0; i < wlen; i++) regs_.Write32(Block::kBsc, kFifo, wdata[i]);
  regs_.Write32(Block::kBsc, kC, kCI2cEn | kCSt);
  // Wait until the write is on the bus (TA), then queue the read: the controller then issues a
  // repeated start instead of a stop when the write's DLEN bytes are out.
  uint32_t s = 0, polls = 0;
  for (; polls < kMaxPolls; polls++) {
    s = regs_.Read32(Block::kBsc, kS);
    if (s & (kSTa | kSDone | kSErr | kSClkt)) break;
  }
  if (!(s & kSTa)) {
    BscResult r = Finish(s, polls);
    return r.err ? r : BscResult{EIO, "the write ended before the read could be queued"};
  }
  regs_.Write32(Block::kBsc, kDlen, static_cast<uint32_t>(rlen));
  regs_.Write32(Block::kBsc, kC, kCI2cEn | kCSt | kCRead);
  size_t got = 0;
  for (polls = 0; polls < kMaxPolls; polls++) {
    s = regs_.Read32(Block::kBsc, kS);
    while (got < rlen && (s & kSRxd)) {
      rdata[got++] = static_cast<uint8_t>(regs_.Read32(Block::kBsc, kFifo));
      s = regs_.Read32(Block::kBsc, kS);
    }
    if (s & (kSErr | kSClkt)) break;
    if ((s & kSDone) && !(s & kSRxd)) break;
  }
  BscResult r = Finish(s, polls);
  if (r.err == 0 && got != rlen) return {EIO, "fewer bytes than DLEN"};
  return r;
}

}  // namespace pc
