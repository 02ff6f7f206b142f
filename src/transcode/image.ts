/**
 * The image work of the transcoder, behind a small interface so tests can
 * count calls (the cache test) and the transcoder's budget logic stays
 * free of sharp details.
 */
import { availableParallelism } from 'node:os';
import sharp, { type Sharp } from 'sharp';
import { Semaphore } from '../util/semaphore.js';

/** Formats the transcoder can write; every terminal format it can reach is one of these. */
export type OutputFormat = 'jpeg' | 'png' | 'gif';

export const MEDIA_TYPE_OF: Record<OutputFormat, string> = { jpeg: 'image/jpeg', png: 'image/png', gif: 'image/gif' };
export const EXTENSION_OF: Record<OutputFormat, string> = { jpeg: 'jpg', png: 'png', gif: 'gif' };

export interface ImageInfo {
  /** sharp's name of the input format: jpeg, png, gif, webp, heif, tiff, svg, … */
  format: string;
  width: number;
  /** Height of one frame. */
  height: number;
  /** Frames of an animation; 1 for a still image. */
  pages: number;
  hasAlpha: boolean;
  /** EXIF orientation 1–8 when the image carries one (1: stored upright). */
  orientation?: number;
}

export interface ImageRequest {
  /** The box the result must fit, already reduced by any shrink step. */
  maxWidth: number;
  maxHeight: number;
  format: OutputFormat;
  /** JPEG quality 1–100. */
  quality: number;
  /** GIF/PNG palette size. */
  colours: number;
  /** Keep every frame of an animated input (GIF out only). */
  animated: boolean;
}

export interface EncodedImage {
  data: Buffer;
  format: OutputFormat;
  width: number;
  /** Height of one frame. */
  height: number;
  pages: number;
}

export interface ImageBackend {
  /** Header facts of an image; rejects on anything that is not a readable image within the limits. */
  probe(data: Buffer): Promise<ImageInfo>;
  /**
   * Decodes (honouring EXIF orientation), fits the request's box without
   * enlarging, flattens alpha onto white for JPEG, writes the format;
   * metadata (EXIF, XMP, ICC beyond sRGB) is dropped.
   */
  encode(data: Buffer, request: ImageRequest): Promise<EncodedImage>;
}

/** A typed failure of the image work, for the notice part and the logs. */
export class ImageAdaptationError extends Error {
  override readonly name = 'ImageAdaptationError';
  constructor(
    readonly code: 'IMAGE_UNREADABLE' | 'IMAGE_TOO_LARGE' | 'IMAGE_TIMEOUT' | 'IMAGE_NO_FORMAT' | 'IMAGE_DOES_NOT_FIT',
    message: string,
  ) {
    super(message);
  }
}

export interface SharpBackendOptions {
  /**
   * Refuse inputs of more pixels (width × height × frames, from the header,
   * before decoding): a 50 MP limit admits 48 MP phone photos and stops
   * decompression bombs (a tiny PNG declaring 100 000 × 100 000).
   */
  limitInputPixels?: number;
  /** Time budget per image operation, milliseconds (sharp's own timeout works in whole seconds). */
  timeoutMs?: number;
  /** Images processed at once. */
  maxInFlight?: number;
}

export const DEFAULT_LIMIT_INPUT_PIXELS = 50_000_000;
export const DEFAULT_IMAGE_TIMEOUT_MS = 5_000;

let configured = false;

/**
 * sharp's global settings, set once per process. Each image runs on one
 * libvips thread (concurrency 1) and at most one image per core is in
 * flight (the backend's semaphore): two retrievals then use both cores,
 * while libvips never spreads one image over every core and takes the CPU
 * from the event loop, and two of libuv's four pool threads stay free for
 * the file system and crypto work of the accept path. Raising
 * UV_THREADPOOL_SIZE is not needed for that.
 */
export function configureSharp(): void {
  if (configured) return;
  configured = true;
  sharp.concurrency(1);
  // The cache in the transcoder keeps results; libvips' own operation cache would only hold memory.
  sharp.cache(false);
}

function classify(e: unknown): ImageAdaptationError {
  if (e instanceof ImageAdaptationError) return e;
  const text = e instanceof Error ? e.message : String(e);
  if (/pixel limit|exceeds/i.test(text)) return new ImageAdaptationError('IMAGE_TOO_LARGE', `image too large: ${text}`);
  if (/timeout/i.test(text)) return new ImageAdaptationError('IMAGE_TIMEOUT', `image processing timed out`);
  return new ImageAdaptationError('IMAGE_UNREADABLE', `image cannot be read: ${text.split('\n')[0]}`);
}

export class SharpImageBackend implements ImageBackend {
  readonly #limitInputPixels: number;
  readonly #timeoutMs: number;
  readonly #gate: Semaphore;

  constructor(opts: SharpBackendOptions = {}) {
    configureSharp();
    this.#limitInputPixels = opts.limitInputPixels ?? DEFAULT_LIMIT_INPUT_PIXELS;
    this.#timeoutMs = opts.timeoutMs ?? DEFAULT_IMAGE_TIMEOUT_MS;
    this.#gate = new Semaphore(opts.maxInFlight ?? availableParallelism());
  }

  /** Runs one sharp operation under the gate and within the time budget, whatever libvips does. */
  #guarded<T>(work: () => Promise<T>): Promise<T> {
    return this.#gate.run(async () => {
      let timer: NodeJS.Timeout | undefined;
      const deadline = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new ImageAdaptationError('IMAGE_TIMEOUT', `image processing exceeded ${this.#timeoutMs} ms`)), this.#timeoutMs);
      });
      try {
        return await Promise.race([work(), deadline]);
      } catch (e) {
        throw classify(e);
      } finally {
        clearTimeout(timer);
      }
    });
  }

  #input(data: Buffer, animated: boolean): Sharp {
    return sharp(data, {
      limitInputPixels: this.#limitInputPixels,
      // A truncated file is refused rather than delivered half grey; benign warnings (stray bytes
      // between markers, common in phone JPEGs) are not.
      failOn: 'truncated',
      animated,
      sequentialRead: true,
    }).timeout({ seconds: Math.max(1, Math.ceil(this.#timeoutMs / 1000)) });
  }

  probe(data: Buffer): Promise<ImageInfo> {
    return this.#guarded(async () => {
      const m = await sharp(data, { limitInputPixels: this.#limitInputPixels, failOn: 'truncated' }).metadata();
      if (!m.format || !m.width || !m.height) throw new ImageAdaptationError('IMAGE_UNREADABLE', 'image cannot be read: no dimensions');
      const pages = m.pages ?? 1;
      const frameHeight = m.pageHeight ?? m.height;
      if (m.width * frameHeight * pages > this.#limitInputPixels) {
        throw new ImageAdaptationError('IMAGE_TOO_LARGE', `image too large: ${m.width}x${frameHeight}x${pages} frames exceeds the pixel limit ${this.#limitInputPixels}`);
      }
      const info: ImageInfo = { format: m.format, width: m.width, height: frameHeight, pages, hasAlpha: m.hasAlpha ?? false };
      if (m.orientation !== undefined) info.orientation = m.orientation;
      return info;
    });
  }

  encode(data: Buffer, r: ImageRequest): Promise<EncodedImage> {
    return this.#guarded(async () => {
      const animated = r.animated && r.format === 'gif';
      let img = this.#input(data, animated)
        .autoOrient()
        .resize({ width: r.maxWidth, height: r.maxHeight, fit: 'inside', withoutEnlargement: true });
      if (r.format === 'jpeg') img = img.flatten({ background: '#ffffff' }).jpeg({ quality: r.quality, mozjpeg: false });
      else if (r.format === 'png') img = img.png({ palette: r.colours < 256, colours: r.colours, compressionLevel: 9, effort: 4 });
      else img = img.gif({ colours: r.colours, effort: 4 });
      const { data: out, info } = await img.toBuffer({ resolveWithObject: true });
      const pages = animated ? ((info as { pages?: number }).pages ?? 1) : 1;
      const pageHeight = animated ? ((info as { pageHeight?: number }).pageHeight ?? info.height) : info.height;
      return { data: out, format: r.format, width: info.width, height: pageHeight, pages };
    });
  }
}

/** The format of an image's first octets, without decoding (for labels that lie). */
export function sniffImageFormat(data: Buffer): string | undefined {
  if (data.length >= 3 && data[0] === 0xff && data[1] === 0xd8 && data[2] === 0xff) return 'jpeg';
  if (data.length >= 8 && data.readUInt32BE(0) === 0x89504e47) return 'png';
  if (data.length >= 6 && /^GIF8[79]a$/.test(data.toString('latin1', 0, 6))) return 'gif';
  if (data.length >= 12 && data.toString('latin1', 0, 4) === 'RIFF' && data.toString('latin1', 8, 12) === 'WEBP') return 'webp';
  return undefined;
}
