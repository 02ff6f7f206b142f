/**
 * Geolocation from an image's EXIF GPS tags (issue 8, enrichment: "from the
 * images' EXIF GPS"). Pure: bytes in, coordinates out; usable by server 1
 * when it enriches an M-Retrieve.conf, and by server 2 when a forward
 * carries no geolocation of its own.
 *
 * JPEG: the APP1 segment that starts with "Exif\0\0" holds a TIFF structure
 * (TIFF 6.0 §2: byte order "II"/"MM", 42, offset of IFD0). IFD0's tag
 * 0x8825 points to the GPS IFD (EXIF 2.3 §4.6.6): tags 1/2 latitude ref and
 * value, 3/4 longitude ref and value, each value three RATIONALs (degrees,
 * minutes, seconds). Every offset is checked against the buffer: a hostile
 * file yields undefined, never an exception or a large allocation.
 */

export interface GpsPosition {
  lat: number;
  lon: number;
}

const TYPE_SIZE: Record<number, number> = { 1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 7: 1, 9: 4, 10: 8 };
/** Entries read per IFD at most: real files have a few dozen. */
const MAX_ENTRIES = 512;

/** The TIFF block of a JPEG's EXIF APP1 segment, or undefined. */
export function jpegExif(jpeg: Buffer): Buffer | undefined {
  if (jpeg.length < 4 || jpeg[0] !== 0xff || jpeg[1] !== 0xd8) return undefined;
  let at = 2;
  while (at + 4 <= jpeg.length) {
    if (jpeg[at] !== 0xff) return undefined;
    const marker = jpeg[at + 1]!;
    // Start of scan or end of image: no metadata segments after this.
    if (marker === 0xda || marker === 0xd9) return undefined;
    if (marker === 0xff) {
      at++; // fill byte
      continue;
    }
    const length = jpeg.readUInt16BE(at + 2);
    if (length < 2 || at + 2 + length > jpeg.length) return undefined;
    if (marker === 0xe1 && length >= 8 && jpeg.toString('latin1', at + 4, at + 10) === 'Exif\0\0') return jpeg.subarray(at + 10, at + 2 + length);
    at += 2 + length;
  }
  return undefined;
}

/** The GPS position in a TIFF/EXIF block (with or without its "Exif\0\0" prefix), or undefined. */
export function exifGps(block: Buffer): GpsPosition | undefined {
  const tiff = block.toString('latin1', 0, 6) === 'Exif\0\0' ? block.subarray(6) : block;
  if (tiff.length < 8) return undefined;
  const order = tiff.toString('latin1', 0, 2);
  if (order !== 'II' && order !== 'MM') return undefined;
  const le = order === 'II';
  const u16 = (o: number): number | undefined => (o >= 0 && o + 2 <= tiff.length ? (le ? tiff.readUInt16LE(o) : tiff.readUInt16BE(o)) : undefined);
  const u32 = (o: number): number | undefined => (o >= 0 && o + 4 <= tiff.length ? (le ? tiff.readUInt32LE(o) : tiff.readUInt32BE(o)) : undefined);
  if (u16(2) !== 42) return undefined;

  /** tag → [type, count, offset of the value's bytes] */
  const readIfd = (offset: number): Map<number, [number, number, number]> | undefined => {
    const n = u16(offset);
    if (n === undefined || n > MAX_ENTRIES) return undefined;
    const out = new Map<number, [number, number, number]>();
    for (let i = 0; i < n; i++) {
      const e = offset + 2 + i * 12;
      const tag = u16(e);
      const type = u16(e + 2);
      const count = u32(e + 4);
      if (tag === undefined || type === undefined || count === undefined) return undefined;
      const size = (TYPE_SIZE[type] ?? 0) * count;
      const at = size <= 4 ? e + 8 : u32(e + 8);
      if (at === undefined || at + size > tiff.length) continue;
      out.set(tag, [type, count, at]);
    }
    return out;
  };

  const ifd0 = readIfd(u32(4) ?? -1);
  const pointer = ifd0?.get(0x8825);
  if (!pointer) return undefined;
  const gpsOffset = pointer[0] === 4 ? u32(pointer[2]) : pointer[0] === 3 ? u16(pointer[2]) : undefined;
  const gps = gpsOffset === undefined ? undefined : readIfd(gpsOffset);
  if (!gps) return undefined;

  const ref = (tag: number): string | undefined => {
    const e = gps.get(tag);
    return e && e[0] === 2 ? tiff.toString('latin1', e[2], e[2] + 1) : undefined;
  };
  const dms = (tag: number): number | undefined => {
    const e = gps.get(tag);
    if (!e || e[0] !== 5 || e[1] !== 3) return undefined;
    const parts: number[] = [];
    for (let i = 0; i < 3; i++) {
      const num = u32(e[2] + i * 8);
      const den = u32(e[2] + i * 8 + 4);
      if (num === undefined || den === undefined || den === 0) return undefined;
      parts.push(num / den);
    }
    return parts[0]! + parts[1]! / 60 + parts[2]! / 3600;
  };
  const lat = dms(2);
  const lon = dms(4);
  const latRef = ref(1);
  const lonRef = ref(3);
  if (lat === undefined || lon === undefined || lat > 90 || lon > 180) return undefined;
  if ((latRef !== 'N' && latRef !== 'S') || (lonRef !== 'E' && lonRef !== 'W')) return undefined;
  const round = (x: number): number => Math.round(x * 1e6) / 1e6;
  return { lat: round(latRef === 'S' ? -lat : lat), lon: round(lonRef === 'W' ? -lon : lon) };
}

/** The first GPS position among JPEG parts, or undefined. */
export function firstImageGps(parts: ReadonlyArray<{ contentType: string; data: Buffer }>): GpsPosition | undefined {
  for (const p of parts) {
    if (!/^image\/(jpeg|jpg|pjpeg)\b/i.test(p.contentType.trim())) continue;
    const exif = jpegExif(p.data);
    const pos = exif && exifGps(exif);
    if (pos) return pos;
  }
  return undefined;
}
