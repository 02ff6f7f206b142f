/**
 * Fitting one image to a profile: the output format, then the steps that
 * make it smaller (JPEG quality down, palette down, then fewer pixels)
 * until it fits its share of the budget.
 */
import { accepts, type TerminalProfile } from './profile.js';
import { ImageAdaptationError, MEDIA_TYPE_OF, type EncodedImage, type ImageBackend, type ImageInfo, type ImageRequest, type OutputFormat } from './image.js';

/** Media types sharp reads (WBMP is not among them: a WBMP part is kept or removed as it is). */
const DECODABLE = new Set(['image/jpeg', 'image/jpg', 'image/pjpeg', 'image/png', 'image/gif', 'image/webp', 'image/avif', 'image/heic', 'image/heif', 'image/tiff', 'image/svg+xml', 'image/bmp']);

export const isDecodableImage = (mediaType: string): boolean => DECODABLE.has(mediaType);

const FORMAT_FROM_INFO: Record<string, OutputFormat> = { jpeg: 'jpeg', png: 'png', gif: 'gif' };

export interface FormatChoice {
  format: OutputFormat;
  /** Keep the animation (GIF in and out, GIF accepted). */
  animated: boolean;
}

/**
 * The format to send: the image's own when the terminal accepts it and we
 * can write it; an animation prefers GIF, transparency PNG then GIF;
 * everything else becomes JPEG (alpha flattened onto white), then PNG, then
 * GIF. `sameFormat` (a single-part message, whose type the envelope fixes):
 * only the image's own format will do.
 */
export function chooseFormat(info: ImageInfo, profile: TerminalProfile, sameFormat = false): FormatChoice | undefined {
  const own = FORMAT_FROM_INFO[info.format];
  const ok = (f: OutputFormat): boolean => accepts(profile, MEDIA_TYPE_OF[f]);
  if (sameFormat) return own && ok(own) ? { format: own, animated: own === 'gif' && info.pages > 1 } : undefined;
  if (own && ok(own)) return { format: own, animated: own === 'gif' && info.pages > 1 };
  if (info.pages > 1 && ok('gif')) return { format: 'gif', animated: true };
  // Transparency: PNG keeps it whole, GIF as one transparent colour; JPEG would flatten it onto white.
  if (info.hasAlpha && ok('png')) return { format: 'png', animated: false };
  if (info.hasAlpha && ok('gif')) return { format: 'gif', animated: false };
  for (const f of ['jpeg', 'png', 'gif'] as const) if (ok(f)) return { format: f, animated: false };
  return undefined;
}

/** A step of the ladder: the box scale and the encoder setting. */
interface Step {
  scale: number;
  quality: number;
  colours: number;
  animated: boolean;
}

export const DEFAULT_JPEG_QUALITY = 80;

/** Quality first (what the eye minds least), then pixels: each smaller box restarts a shorter quality ladder. */
function ladder(choice: FormatChoice): Step[] {
  const steps: Step[] = [];
  const scales = [1, 0.75, 0.55, 0.4, 0.3, 0.2];
  if (choice.format === 'jpeg') {
    scales.forEach((scale, i) => {
      for (const quality of i === 0 ? [DEFAULT_JPEG_QUALITY, 65, 50, 35] : [50, 35, 25]) steps.push({ scale, quality, colours: 256, animated: false });
    });
  } else {
    const animations = choice.animated ? [true, false] : [false];
    for (const animated of animations) {
      scales.forEach((scale, i) => {
        for (const colours of i === 0 ? [256, 64] : [64, 16]) steps.push({ scale, quality: DEFAULT_JPEG_QUALITY, colours, animated });
      });
    }
  }
  return steps;
}

export function firstRequest(choice: FormatChoice, box: { width: number; height: number }): ImageRequest {
  return { maxWidth: box.width, maxHeight: box.height, format: choice.format, quality: DEFAULT_JPEG_QUALITY, colours: 256, animated: choice.animated };
}

/**
 * Encodes down the ladder until the result is at most `targetOctets`;
 * `first` is a result already made with the ladder's first step. A failure
 * that another setting cannot cure (unreadable, too large, timeout) ends
 * the search at once.
 */
export async function fitImage(
  backend: ImageBackend,
  data: Buffer,
  choice: FormatChoice,
  box: { width: number; height: number },
  targetOctets: number,
  first?: EncodedImage,
): Promise<EncodedImage> {
  let smallest = first;
  if (first && first.data.length <= targetOctets) return first;
  const steps = ladder(choice);
  for (const [i, s] of steps.entries()) {
    if (i === 0 && first) continue;
    const request: ImageRequest = {
      maxWidth: Math.max(1, Math.round(box.width * s.scale)),
      maxHeight: Math.max(1, Math.round(box.height * s.scale)),
      format: choice.format,
      quality: s.quality,
      colours: s.colours,
      animated: s.animated,
    };
    const out = await backend.encode(data, request);
    if (out.data.length <= targetOctets) return out;
    if (!smallest || out.data.length < smallest.data.length) smallest = out;
  }
  throw new ImageAdaptationError(
    'IMAGE_DOES_NOT_FIT',
    `even at its smallest (${smallest ? `${smallest.width}x${smallest.height}, ${smallest.data.length} octets` : 'no result'}) the image exceeds its share of ${targetOctets} octets`,
  );
}
