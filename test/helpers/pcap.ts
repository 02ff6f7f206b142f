/**
 * Builds classic libpcap capture files in memory, for feeding our binary PDUs
 * to tshark (see ./tshark.ts). Pure: no I/O, no clock, no randomness — the
 * same input always gives the same octets.
 *
 *   udpPacket(payload, srcPort, dstPort)       Ethernet + IPv4 + UDP frame
 *   tcpPacket(payload, srcPort, dstPort, seq)  Ethernet + IPv4 + TCP frame (PSH|ACK)
 *   pcapFile(frames)                           24-octet global header + one record per frame
 *
 * Frames go from 127.0.0.1 to 127.0.0.1 between the locally administered
 * MACs 02:00:00:00:00:01 → 02:00:00:00:00:02. The IPv4 header checksum and
 * the UDP/TCP checksums (over the pseudo-header) are correct, so tshark has
 * nothing to complain about below the application layer.
 *
 * pcapFile writes the little-endian, microsecond variant (magic a1b2c3d4,
 * version 2.4, snaplen 262144, linktype 1 = Ethernet). Record i (0-based) is
 * stamped PCAP_BASE_TIME + i seconds, 0 µs.
 */

/** Timestamp of the first record: 2001-09-09T01:46:40Z. */
export const PCAP_BASE_TIME = 1_000_000_000;

const ETH_HEADER = 14;
const IPV4_HEADER = 20;
const UDP_HEADER = 8;
const TCP_HEADER = 20;
const LOOPBACK = [127, 0, 0, 1] as const;

function checkPort(port: number, what: string): void {
  if (!Number.isInteger(port) || port < 0 || port > 0xffff) {
    throw new RangeError(`${what} ${port} is not a 16-bit port number`);
  }
}

/** RFC 1071 ones'-complement sum of `buf` (odd length padded with a zero octet), not yet inverted. */
function onesComplementSum(buf: Uint8Array, initial = 0): number {
  let sum = initial;
  for (let i = 0; i + 1 < buf.length; i += 2) {
    sum += ((buf[i] ?? 0) << 8) | (buf[i + 1] ?? 0);
  }
  if (buf.length % 2 === 1) sum += (buf[buf.length - 1] ?? 0) << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return sum;
}

function checksum(buf: Uint8Array, initial = 0): number {
  return ~onesComplementSum(buf, initial) & 0xffff;
}

/** Sum of the IPv4 pseudo-header used by UDP and TCP checksums. */
function pseudoHeaderSum(protocol: number, length: number): number {
  const pseudo = Buffer.alloc(12);
  pseudo.set(LOOPBACK, 0);
  pseudo.set(LOOPBACK, 4);
  pseudo[9] = protocol;
  pseudo.writeUInt16BE(length, 10);
  return onesComplementSum(pseudo);
}

/** Ethernet II + IPv4 header around an already complete transport segment. */
function ipv4Frame(protocol: number, segment: Buffer): Buffer {
  const totalLength = IPV4_HEADER + segment.length;
  if (totalLength > 0xffff) throw new RangeError(`IPv4 datagram of ${totalLength} octets is too long`);
  const frame = Buffer.alloc(ETH_HEADER + totalLength);
  // Ethernet: destination, source, EtherType IPv4.
  frame.set([0x02, 0, 0, 0, 0, 0x02], 0);
  frame.set([0x02, 0, 0, 0, 0, 0x01], 6);
  frame.writeUInt16BE(0x0800, 12);
  const ip = frame.subarray(ETH_HEADER, ETH_HEADER + IPV4_HEADER);
  ip[0] = 0x45; // version 4, IHL 5
  ip[1] = 0x00; // DSCP/ECN
  ip.writeUInt16BE(totalLength, 2);
  ip.writeUInt16BE(0x0000, 4); // identification
  ip.writeUInt16BE(0x4000, 6); // flags: don't fragment
  ip[8] = 64; // TTL
  ip[9] = protocol;
  ip.set(LOOPBACK, 12);
  ip.set(LOOPBACK, 16);
  ip.writeUInt16BE(checksum(ip), 10);
  segment.copy(frame, ETH_HEADER + IPV4_HEADER);
  return frame;
}

/** An Ethernet + IPv4 + UDP frame 127.0.0.1:srcPort → 127.0.0.1:dstPort carrying `payload`. */
export function udpPacket(payload: Uint8Array, srcPort: number, dstPort: number): Buffer {
  checkPort(srcPort, 'UDP source port');
  checkPort(dstPort, 'UDP destination port');
  const length = UDP_HEADER + payload.length;
  const udp = Buffer.alloc(length);
  udp.writeUInt16BE(srcPort, 0);
  udp.writeUInt16BE(dstPort, 2);
  udp.writeUInt16BE(length, 4);
  udp.set(payload, UDP_HEADER);
  const sum = checksum(udp, pseudoHeaderSum(17, length));
  udp.writeUInt16BE(sum === 0 ? 0xffff : sum, 6); // 0 means "no checksum" in UDP
  return ipv4Frame(17, udp);
}

/**
 * An Ethernet + IPv4 + TCP frame 127.0.0.1:srcPort → 127.0.0.1:dstPort with
 * flags PSH|ACK, sequence number `seq` (the caller advances it by the payload
 * length for the next frame of the same stream), acknowledgement number 1 and
 * window 65535. No handshake is needed: tshark follows a stream from its
 * first captured segment.
 */
export function tcpPacket(payload: Uint8Array, srcPort: number, dstPort: number, seq: number): Buffer {
  checkPort(srcPort, 'TCP source port');
  checkPort(dstPort, 'TCP destination port');
  if (!Number.isInteger(seq) || seq < 0 || seq > 0xffffffff) {
    throw new RangeError(`TCP sequence number ${seq} is not a 32-bit unsigned integer`);
  }
  const length = TCP_HEADER + payload.length;
  const tcp = Buffer.alloc(length);
  tcp.writeUInt16BE(srcPort, 0);
  tcp.writeUInt16BE(dstPort, 2);
  tcp.writeUInt32BE(seq, 4);
  tcp.writeUInt32BE(1, 8); // acknowledgement number
  tcp[12] = (TCP_HEADER / 4) << 4; // data offset, no options
  tcp[13] = 0x18; // PSH | ACK
  tcp.writeUInt16BE(0xffff, 14); // window
  tcp.set(payload, TCP_HEADER);
  tcp.writeUInt16BE(checksum(tcp, pseudoHeaderSum(6, length)), 16);
  return ipv4Frame(6, tcp);
}

/** A classic libpcap file (linktype 1, Ethernet) holding `frames` in order, 1 s apart. */
export function pcapFile(frames: Buffer[]): Buffer {
  const out = Buffer.alloc(24 + frames.reduce((n, f) => n + 16 + f.length, 0));
  out.writeUInt32LE(0xa1b2c3d4, 0); // magic: microsecond timestamps
  out.writeUInt16LE(2, 4); // version major
  out.writeUInt16LE(4, 6); // version minor
  out.writeInt32LE(0, 8); // thiszone
  out.writeUInt32LE(0, 12); // sigfigs
  out.writeUInt32LE(262_144, 16); // snaplen
  out.writeUInt32LE(1, 20); // linktype: Ethernet
  let at = 24;
  frames.forEach((frame, i) => {
    out.writeUInt32LE(PCAP_BASE_TIME + i, at);
    out.writeUInt32LE(0, at + 4);
    out.writeUInt32LE(frame.length, at + 8); // captured length
    out.writeUInt32LE(frame.length, at + 12); // original length
    frame.copy(out, at + 16);
    at += 16 + frame.length;
  });
  return out;
}
