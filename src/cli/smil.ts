/**
 * A SMIL presentation for a list of media parts: one slide (`<par>`) per
 * image, video, text or audio part, in the order given, each referencing its
 * part by Content-Location. Pure: no I/O, no clock. Used by `mmsc mm7 submit`
 * when the user gives no SMIL, and meant for the MMS-C (MM3 mail, MM4) too.
 *
 * The layout is the two-region one terminals expect (OMA MMS conformance:
 * an "Image" region above a "Text" region); regions are in percent of the
 * root layout so the terminal's own screen size decides the pixels.
 */

/** A part the presentation may show. */
export interface SmilPart {
  /** Media type without parameters, any case: `image/gif`, `text/plain`. */
  mediaType: string;
  /** How the SMIL names the part: its Content-Location (or a `cid:` URL). */
  src: string;
  /** Slide duration in milliseconds; default 5000 for images and text, the media's own length for audio and video. */
  durationMs?: number;
}

export type SmilElement = 'img' | 'video' | 'text' | 'audio';

/** The SMIL element that presents a media type, or undefined when it is not presentable (vCard, SMIL, HTML, octet-stream, …). */
export function smilElementOf(mediaType: string): SmilElement | undefined {
  const t = mediaType.trim().toLowerCase();
  if (t === 'text/plain') return 'text';
  if (t.startsWith('image/')) return 'img';
  if (t.startsWith('audio/')) return 'audio';
  if (t.startsWith('video/')) return 'video';
  return undefined;
}

export interface SmilOptions {
  /** Default slide duration for images and text, in milliseconds (5000). */
  slideMs?: number;
  /** Root layout in pixels (the OMA examples' 176×208 is tiny on today's phones): default 320×480. */
  width?: number;
  height?: number;
}

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' };
const attr = (text: string): string => text.replace(/[&<>"']/g, (c) => ESCAPES[c]!);

/**
 * The SMIL document, or undefined when no part is presentable (the
 * caller then sends multipart/mixed without a presentation).
 */
export function generateSmil(parts: readonly SmilPart[], options: SmilOptions = {}): string | undefined {
  const slideMs = options.slideMs ?? 5000;
  const width = options.width ?? 320;
  const height = options.height ?? 480;
  const slides: string[] = [];
  let visual = false;
  let text = false;
  for (const part of parts) {
    const element = smilElementOf(part.mediaType);
    if (!element) continue;
    const region = element === 'img' || element === 'video' ? 'Image' : element === 'text' ? 'Text' : undefined;
    if (region === 'Image') visual = true;
    if (region === 'Text') text = true;
    const ms = part.durationMs ?? (element === 'img' || element === 'text' ? slideMs : undefined);
    const dur = ms === undefined ? '' : ` dur="${Math.max(0, Math.round(ms))}ms"`;
    const at = region ? ` region="${region}"` : '';
    slides.push(`    <par${dur}>\n      <${element} src="${attr(part.src)}"${at}/>\n    </par>`);
  }
  if (slides.length === 0) return undefined;
  // Both regions when both kinds occur; a lone kind gets the whole screen.
  const regions: string[] = [];
  if (visual && text) {
    regions.push('      <region id="Image" left="0%" top="0%" width="100%" height="70%" fit="meet"/>');
    regions.push('      <region id="Text" left="0%" top="70%" width="100%" height="30%" fit="scroll"/>');
  } else if (visual) {
    regions.push('      <region id="Image" left="0%" top="0%" width="100%" height="100%" fit="meet"/>');
  } else if (text) {
    regions.push('      <region id="Text" left="0%" top="0%" width="100%" height="100%" fit="scroll"/>');
  }
  return (
    '<smil xmlns="http://www.w3.org/2001/SMIL20/Language">\n' +
    '  <head>\n' +
    '    <layout>\n' +
    `      <root-layout width="${width}" height="${height}"/>\n` +
    regions.map((r) => `${r}\n`).join('') +
    '    </layout>\n' +
    '  </head>\n' +
    '  <body>\n' +
    slides.join('\n') +
    '\n  </body>\n' +
    '</smil>\n'
  );
}
