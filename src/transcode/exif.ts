/**
 * Geolocation from an image's EXIF GPS IFD, read before adaptation strips
 * the metadata (the archive's enrichment needs it). A small TIFF reader:
 * every offset is checked against the buffer, so hostile EXIF yields
 * `undefined`, never an exception or a read out of bounds.
 */
import sharp from 'sharp';

export interface Geolocation {
  /** Decimal degrees, north positive. */
  lat: number;
  /** Decimal degrees, east positive. */
  lon: number;
}

const TAG_GPS_IFD = 0x8825;
const GPS_LATITUDE_REF = 1;
const GPS_LATITUDE = 2;
const GPS_LONGITUDE_REF = 3;
const GPS_LONGITUDE = 4;
const TYPE_ASCII = 2;
const TYPE_RATIONAL = 5;
/** No real IFD has more entries; a bigger count is a corrupt or hostile file. */
const MAX_IFD_ENTRIES = 512;

interface Entry {
  type: number;
  count: number;
  /** Offset (in the TIFF) of the value: inline in the entry when it fits 4 octets. */
  valueOffset: number;
}

const TYPE_SIZE: Record<number, number> = { 1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 7: 1, 9: 4, 10: 8 };

class Tiff {
  constructor(
    readonly buf: Buffer,
    readonly little: boolean,
  ) {}
  u16(at: number): number | undefined {
    if (at < 0 || at + 2 > this.buf.length) return undefined;
    return this.little ? this.buf.readUInt16LE(at) : this.buf.readUInt16BE(at);
  }
  u32(at: number): number | undefined {
    if (at < 0 || at + 4 > this.buf.length) return undefined;
    return this.little ? this.buf.readUInt32LE(at) : this.buf.readUInt32BE(at);
  }
  /** The entries of the IFD at `offset`, by tag. */
  ifd(offset: number): Map<number, Entry> | undefined {
    const n = this.u16(offset);
    if (n === undefined || n > MAX_IFD_ENTRIES) return undefined;
    const entries = new Map<number, Entry>();
    for (let i = 0; i < n; i++) {
      const at = offset + 2 + i * 12;
      const tag = this.u16(at);
      const type = this.u16(at + 2);
      const count = this.u32(at + 4);
      if (tag === undefined || type === undefined || count === undefined) return undefined;
      const size = (TYPE_SIZE[type] ?? 0) * count;
      const valueOffset = size <= 4 ? at + 8 : this.u32(at + 8);
      if (valueOffset === undefined) return undefined;
      entries.set(tag, { type, count, valueOffset });
    }
    return entries;
  }
  ascii(e: Entry | undefined): string | undefined {
    if (!e || e.type !== TYPE_ASCII || e.valueOffset + e.count > this.buf.length) return undefined;
    return this.buf.toString('latin1', e.valueOffset, e.valueOffset + e.count).replace(/\0.*$/s, '');
  }
  /** Degrees, minutes, seconds (three RATIONALs) as decimal degrees. */
  degrees(e: Entry | undefined): number | undefined {
    if (!e || e.type !== TYPE_RATIONAL || e.count < 3) return undefined;
    let value = 0;
    for (let i = 0; i < 3; i++) {
      const num = this.u32(e.valueOffset + i * 8);
      const den = this.u32(e.valueOffset + i * 8 + 4);
      if (num === undefined || den === undefined) return undefined;
      if (den === 0) {
        if (num === 0) continue;
        return undefined;
      }
      value += num / den / 60 ** i;
    }
    return value;
  }
}

/** Reads the GPS position of a raw EXIF block (`Exif\0\0` + TIFF, as sharp's metadata().exif gives it, or a bare TIFF). */
export function parseExifGeolocation(exif: Buffer): Geolocation | undefined {
  const start = exif.length >= 6 && exif.toString('latin1', 0, 6) === 'Exif\0\0' ? 6 : 0;
  const buf = exif.subarray(start);
  if (buf.length < 8) return undefined;
  const order = buf.toString('latin1', 0, 2);
  if (order !== 'II' && order !== 'MM') return undefined;
  const tiff = new Tiff(buf, order === 'II');
  if (tiff.u16(2) !== 42) return undefined;
  const ifd0Offset = tiff.u32(4);
  const ifd0 = ifd0Offset === undefined ? undefined : tiff.ifd(ifd0Offset);
  const gpsPointer = ifd0?.get(TAG_GPS_IFD);
  const gpsOffset = gpsPointer ? tiff.u32(gpsPointer.valueOffset) : undefined;
  const gps = gpsOffset === undefined ? undefined : tiff.ifd(gpsOffset);
  if (!gps) return undefined;
  const lat = tiff.degrees(gps.get(GPS_LATITUDE));
  const lon = tiff.degrees(gps.get(GPS_LONGITUDE));
  if (lat === undefined || lon === undefined || lat > 90 || lon > 180) return undefined;
  const latRef = tiff.ascii(gps.get(GPS_LATITUDE_REF))?.trim().toUpperCase();
  const lonRef = tiff.ascii(gps.get(GPS_LONGITUDE_REF))?.trim().toUpperCase();
  return { lat: latRef === 'S' ? -lat : lat, lon: lonRef === 'W' ? -lon : lon };
}

/** The GPS position in an image's EXIF, or undefined (no EXIF, no GPS, not an image). */
export async function readImageGeolocation(data: Buffer): Promise<Geolocation | undefined> {
  try {
    const { exif } = await sharp(data, { limitInputPixels: false }).metadata();
    return exif ? parseExifGeolocation(exif) : undefined;
  } catch {
    return undefined;
  }
}
