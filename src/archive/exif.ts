/**
 * Geolocation from an image's EXIF GPS tags (issue 8, enrichment: "from the
 * images' EXIF GPS"). Pure: bytes in, coordinates out; usable by server 1
 * when it enriches an M-Retrieve.conf, and by server 2 when a forward
 * carries no geolocation of its own.
 *
 * JPEG: the APP1 segment that starts with "Exif\0\0" holds a TIFF structure,
 * found here without decoding the image; the GPS IFD in it is read by
 * transcode/exif.ts. Every offset is checked against the buffer: a hostile
 * file yields undefined, never an exception or a large allocation.
 */
import { parseExifGeolocation } from '../transcode/exif.js';

export interface GpsPosition {
  lat: number;
  lon: number;
}

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

/**
 * The GPS position in a TIFF/EXIF block (with or without its "Exif\0\0"
 * prefix), rounded to 6 decimals (about 0.1 m); undefined without one. The
 * TIFF reading is the transcoder's (transcode/exif.ts): one reader of
 * hostile EXIF in the project, not two.
 */
export function exifGps(block: Buffer): GpsPosition | undefined {
  const g = parseExifGeolocation(block);
  const round = (x: number): number => Math.round(x * 1e6) / 1e6;
  return g && { lat: round(g.lat), lon: round(g.lon) };
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

/**
 * An image geolocation reader that reads a JPEG's EXIF itself and hands any
 * other image to `other` (e.g. sharp's metadata): the same answer for a
 * JPEG (sharp reads the same APP1 segment) without decoding headers in the
 * thread pool, which was a tenth of server 1's CPU per archive forward.
 */
export function jpegFirstGeolocation<T extends GpsPosition>(other: (data: Buffer) => Promise<T | undefined>): (data: Buffer) => Promise<GpsPosition | undefined> {
  return async (data) => {
    if (data.length < 2 || data[0] !== 0xff || data[1] !== 0xd8) return other(data);
    const exif = jpegExif(data);
    return exif && parseExifGeolocation(exif);
  };
}
