/**
 * Extraction: keep only the part of a message that the subscriber's plan
 * archives (issue 8, "Variants"). Pure functions of the parts and the
 * rules — no I/O, no clock — so server 1 (extraction before forwarding,
 * less traffic) and server 2 (extraction on arrival) run the same code.
 *
 * Audio is cut on frame boundaries and stays a valid file:
 * - AMR / AMR-WB in the storage format of RFC 4867 §5 ("#!AMR\n",
 *   "#!AMR-WB\n" then frames of one header octet — F=0, FT, Q — and the
 *   speech bits of that frame type, padded to an octet). Every frame is
 *   20 ms, so N seconds are the first 50·N frames.
 * - WAV (RIFF/WAVE): the data chunk is cut on a block-align boundary (one
 *   sample of every channel) and the RIFF and data sizes are rewritten;
 *   chunks after the data chunk are dropped, as they may describe the
 *   whole recording (cue points, lengths).
 */
import type { StoredPart } from '../mmsc/model.js';
import type { DroppedPart, TrimmedPart } from '../store/db2.js';

export interface ExtractionRules {
  /** Media-type patterns to keep (`image/*`, `text/plain`, `*\/*`); absent: every type. */
  types?: string[];
  /** Keep at most the first N images (in part order); later ones are dropped. */
  maxImages?: number;
  /** true: text parts are kept even when `types` does not list them; false: never kept. */
  text?: boolean;
  /** Cut AMR, AMR-WB and WAV parts to their first N seconds. */
  audioSeconds?: number;
}

export interface ExtractionResult {
  kept: StoredPart[];
  dropped: DroppedPart[];
  /** Audio parts kept but cut; their kept copy is the cut file. */
  trimmed: TrimmedPart[];
}

/** Audio that cannot be read as the format its first octets announce. */
export class AudioFormatError extends Error {
  override readonly name = 'AudioFormatError';
  constructor(
    readonly code: 'BAD_MAGIC' | 'BAD_FRAME' | 'BAD_CHUNK' | 'UNSUPPORTED',
    message: string,
    readonly offset?: number,
  ) {
    super(offset === undefined ? message : `${message} (at octet ${offset})`);
  }
}

/** True when the rules keep everything as it is: extraction has nothing to do. */
export function keepsEverything(rules: ExtractionRules): boolean {
  return rules.types === undefined && rules.maxImages === undefined && rules.text === undefined && rules.audioSeconds === undefined;
}

function mediaTypeOf(contentType: string): string {
  return (contentType.split(';')[0] ?? '').trim().toLowerCase();
}

function matches(pattern: string, mediaType: string): boolean {
  const p = pattern.trim().toLowerCase();
  if (p === '*/*' || p === '*') return true;
  if (p.endsWith('/*')) return mediaType.startsWith(p.slice(0, -1));
  return p === mediaType;
}

function dropped(part: StoredPart, reason: string): DroppedPart {
  const d: DroppedPart = { contentType: part.contentType, reason };
  if (part.contentId !== undefined) d.contentId = part.contentId;
  return d;
}

/** Applies `rules` to the parts in order. The kept parts share their bytes with the input unless they were cut. */
export function extract(parts: readonly StoredPart[], rules: ExtractionRules): ExtractionResult {
  const out: ExtractionResult = { kept: [], dropped: [], trimmed: [] };
  let images = 0;
  for (const part of parts) {
    const type = mediaTypeOf(part.contentType);
    const isText = type.startsWith('text/');
    if (isText && rules.text === false) {
      out.dropped.push(dropped(part, 'text parts are not kept by the plan'));
      continue;
    }
    const listed = rules.types === undefined || rules.types.some((p) => matches(p, type));
    if (!listed && !(isText && rules.text === true)) {
      out.dropped.push(dropped(part, `content type ${type} is not kept by the plan`));
      continue;
    }
    if (type.startsWith('image/')) {
      if (rules.maxImages !== undefined && images >= rules.maxImages) {
        out.dropped.push(dropped(part, `beyond the first ${rules.maxImages} image(s)`));
        continue;
      }
      images++;
    }
    if (rules.audioSeconds !== undefined && (type.startsWith('audio/') || type === 'application/octet-stream')) {
      let cut: Buffer | undefined;
      try {
        cut = cutAudio(part.data, rules.audioSeconds);
      } catch (e) {
        if (!(e instanceof AudioFormatError)) throw e;
        out.dropped.push(dropped(part, `audio cannot be cut: ${e.message}`));
        continue;
      }
      if (cut !== undefined && cut.length < part.data.length) {
        out.kept.push({ ...part, data: cut });
        const t: TrimmedPart = { contentType: part.contentType, seconds: rules.audioSeconds, originalSize: part.data.length, size: cut.length };
        if (part.contentId !== undefined) t.contentId = part.contentId;
        out.trimmed.push(t);
        continue;
      }
    }
    out.kept.push(part);
  }
  return out;
}

/**
 * The first `seconds` of an AMR, AMR-WB or WAV file, by its magic; the same
 * buffer when it is no longer than that; undefined for another format
 * (kept whole: we cannot cut what we cannot read).
 */
export function cutAudio(data: Buffer, seconds: number): Buffer | undefined {
  if (startsWith(data, AMR_NB_MAGIC) || startsWith(data, AMR_WB_MAGIC)) return cutAmr(data, seconds);
  if (startsWith(data, AMR_MC_MAGIC_PREFIX)) throw new AudioFormatError('UNSUPPORTED', 'multi-channel AMR storage format');
  if (data.length >= 12 && data.toString('latin1', 0, 4) === 'RIFF' && data.toString('latin1', 8, 12) === 'WAVE') return cutWav(data, seconds);
  return undefined;
}

function startsWith(data: Buffer, prefix: Buffer): boolean {
  return data.length >= prefix.length && data.subarray(0, prefix.length).equals(prefix);
}

// ------------------------------------------------------------------ AMR

export const AMR_NB_MAGIC = Buffer.from('#!AMR\n', 'latin1');
export const AMR_WB_MAGIC = Buffer.from('#!AMR-WB\n', 'latin1');
const AMR_MC_MAGIC_PREFIX = Buffer.from('#!AMR_MC', 'latin1');

/**
 * Octets of a whole frame, header included, by frame type (RFC 4867 §5.3;
 * 3GPP TS 26.101 / 26.201 class bit counts rounded up to octets).
 * -1: reserved frame type, never valid in a file.
 */
export const AMR_NB_FRAME_OCTETS: readonly number[] = [13, 14, 16, 18, 20, 21, 27, 32, 6, 7, 6, 6, -1, -1, -1, 1];
export const AMR_WB_FRAME_OCTETS: readonly number[] = [18, 24, 33, 37, 41, 47, 51, 59, 61, 6, -1, -1, -1, -1, 1, 1];
export const AMR_FRAME_MS = 20;

export interface AmrInfo {
  wideband: boolean;
  frames: number;
  /** Octet offset where each frame starts, and one past the last frame. */
  frameEnds: number[];
  durationMs: number;
}

/**
 * Walks the frames of an AMR file, up to `maxFrames`. A frame cut short at
 * the very end (a truncated upload) ends the walk; a reserved frame type or
 * a set F bit is BAD_FRAME.
 */
export function parseAmr(data: Buffer, maxFrames = Number.POSITIVE_INFINITY): AmrInfo {
  const wideband = startsWith(data, AMR_WB_MAGIC);
  if (!wideband && !startsWith(data, AMR_NB_MAGIC)) throw new AudioFormatError('BAD_MAGIC', 'not an AMR storage file');
  const table = wideband ? AMR_WB_FRAME_OCTETS : AMR_NB_FRAME_OCTETS;
  let at = wideband ? AMR_WB_MAGIC.length : AMR_NB_MAGIC.length;
  const frameEnds = [at];
  while (at < data.length && frameEnds.length - 1 < maxFrames) {
    const header = data[at]!;
    // Storage format frame header: P(1)=0 FT(4) Q(1) P(2)=0; F (the first bit) is always 0 in a file.
    if (header & 0x80) throw new AudioFormatError('BAD_FRAME', 'frame header with the F bit set', at);
    const ft = (header >> 3) & 0x0f;
    const size = table[ft]!;
    if (size < 0) throw new AudioFormatError('BAD_FRAME', `reserved frame type ${ft}`, at);
    if (at + size > data.length) break;
    at += size;
    frameEnds.push(at);
  }
  const frames = frameEnds.length - 1;
  return { wideband, frames, frameEnds, durationMs: frames * AMR_FRAME_MS };
}

/** The first `seconds` of an AMR or AMR-WB file: its magic and its first 50·seconds frames. */
export function cutAmr(data: Buffer, seconds: number): Buffer {
  const keep = Math.floor((seconds * 1000) / AMR_FRAME_MS);
  const info = parseAmr(data, keep);
  const end = info.frameEnds[info.frames]!;
  return end >= data.length ? data : Buffer.from(data.subarray(0, end));
}

// ------------------------------------------------------------------ WAV

export interface WavInfo {
  audioFormat: number;
  channels: number;
  sampleRate: number;
  bitsPerSample: number;
  blockAlign: number;
  /** Offset of the data chunk's header ("data" + size). */
  dataChunkAt: number;
  /** Offset of the first sample and the octets of samples present (clamped to the file). */
  dataAt: number;
  dataOctets: number;
  durationMs: number;
}

/** Reads a RIFF/WAVE file's fmt and data chunks. */
export function parseWav(data: Buffer): WavInfo {
  if (data.length < 12 || data.toString('latin1', 0, 4) !== 'RIFF' || data.toString('latin1', 8, 12) !== 'WAVE') {
    throw new AudioFormatError('BAD_MAGIC', 'not a RIFF/WAVE file');
  }
  let at = 12;
  let fmt: Omit<WavInfo, 'dataChunkAt' | 'dataAt' | 'dataOctets' | 'durationMs'> | undefined;
  while (at + 8 <= data.length) {
    const id = data.toString('latin1', at, at + 4);
    const size = data.readUInt32LE(at + 4);
    if (id === 'fmt ') {
      if (size < 16 || at + 8 + size > data.length) throw new AudioFormatError('BAD_CHUNK', `fmt chunk of ${size} octets`, at);
      fmt = {
        audioFormat: data.readUInt16LE(at + 8),
        channels: data.readUInt16LE(at + 10),
        sampleRate: data.readUInt32LE(at + 12),
        blockAlign: data.readUInt16LE(at + 20),
        bitsPerSample: data.readUInt16LE(at + 22),
      };
      if (fmt.channels === 0 || fmt.sampleRate === 0 || fmt.blockAlign === 0) throw new AudioFormatError('BAD_CHUNK', 'fmt chunk with zero channels, rate or block align', at);
    } else if (id === 'data') {
      if (!fmt) throw new AudioFormatError('BAD_CHUNK', 'data chunk before the fmt chunk', at);
      // A streaming writer may leave the size at 0xFFFFFFFF or 0: what is there is the data.
      const present = Math.min(size === 0 ? data.length : size, data.length - (at + 8));
      const dataOctets = present - (present % fmt.blockAlign);
      const durationMs = (dataOctets / fmt.blockAlign / fmt.sampleRate) * 1000;
      return { ...fmt, dataChunkAt: at, dataAt: at + 8, dataOctets, durationMs };
    }
    // Chunks are padded to an even length (RIFF).
    at += 8 + size + (size & 1);
  }
  throw new AudioFormatError('BAD_CHUNK', fmt ? 'no data chunk' : 'no fmt chunk', at);
}

/** The first `seconds` of a WAV file, cut on a block boundary, its sizes rewritten. */
export function cutWav(data: Buffer, seconds: number): Buffer {
  const info = parseWav(data);
  const blocks = Math.floor(seconds * info.sampleRate);
  const keep = Math.min(info.dataOctets, blocks * info.blockAlign);
  // Short enough already: the file as it is, trailing chunks and all.
  if (keep === info.dataOctets) return data;
  const pad = keep & 1;
  const out = Buffer.alloc(info.dataAt + keep + pad);
  data.copy(out, 0, 0, info.dataAt + keep);
  out.writeUInt32LE(out.length - 8, 4);
  out.writeUInt32LE(keep, info.dataChunkAt + 4);
  return out;
}
