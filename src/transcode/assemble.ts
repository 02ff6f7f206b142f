/**
 * How a message's parts share the profile's size budget: media that cannot
 * be changed are kept when accepted and there is room, text is converted
 * and cut when it would crowd out the images, images share what is left
 * fairly (water-filling), and what cannot stay becomes a text notice.
 */
import type { StoredPart } from '../mmsc/model.js';
import { formatMimeType, parseMimeType } from '../mmsc/convert.js';
import { accepts, type TerminalProfile } from './profile.js';
import type { Adaptation, PartAction } from './cache.js';
import { EXTENSION_OF, ImageAdaptationError, MEDIA_TYPE_OF, type EncodedImage, type ImageBackend, type ImageInfo } from './image.js';
import { chooseFormat, firstRequest, fitImage, isDecodableImage, type FormatChoice } from './fit.js';
import { charsetAccepted, cutText, decodeText, encodeText, targetCharset, writableCharset } from './text.js';
import { rewriteSmil, type PartOutcome } from './smil.js';

/** Smallest text share worth sending when images compete for room. */
const TEXT_FLOOR = 512;
/** Smallest image share: a 160x120 JPEG at quality 50 is 3–6 KB. */
const IMAGE_FLOOR = 4096;

export type Kind = 'smil' | 'text' | 'image' | 'other';

export function kindOf(mediaType: string): Kind {
  if (mediaType === 'application/smil') return 'smil';
  if (mediaType === 'text/plain') return 'text';
  if (isDecodableImage(mediaType)) return 'image';
  return 'other';
}

const kb = (n: number): string => `${(n / 1024).toFixed(n < 10240 ? 1 : 0)} KB`;

export function partName(p: StoredPart, index: number): string {
  return p.contentLocation ?? (p.contentId !== undefined ? `<${p.contentId}>` : `part ${index + 1}`);
}

/** `photo.png` → `photo.jpg`; no name stays no name. */
function renamed(location: string | undefined, ext: string): string | undefined {
  if (location === undefined) return undefined;
  const dot = location.lastIndexOf('.');
  const base = dot > location.lastIndexOf('/') && dot > 0 ? location.slice(0, dot) : location;
  return `${base}.${ext}`;
}

export interface Plan {
  index: number;
  original: StoredPart;
  mediaType: string;
  params: Record<string, string>;
  kind: Kind;
}

export interface ImageJob {
  plan: Plan;
  info: ImageInfo;
  choice: FormatChoice;
  box: { width: number; height: number };
  /** The terminal can show the stored image as it is: no encode is made unless its share of the budget is too small. */
  asIs: boolean;
  /** The encode at the profile's box with the default setting; made only for an image that cannot go as it is. */
  first?: EncodedImage;
}

/** Media types by sharp's format names, for an image whose label must tell the truth before it goes out unchanged. */
const LABEL_OF: Record<string, readonly string[]> = { jpeg: ['image/jpeg', 'image/jpg', 'image/pjpeg'], png: ['image/png'], gif: ['image/gif'] };

/**
 * Whether the terminal can take a stored image without any change: its
 * label is accepted and true, the format choice keeps its own format (so
 * an animation stays one), it fits the profile's box as stored, and no EXIF
 * orientation asks for a rotation (many MMS phones ignore that tag and
 * would show the photo sideways).
 *
 * Such an image keeps its bytes, EXIF included. Metadata goes only as a
 * side effect of re-encoding (sharp writes none): the MMS-C does not edit
 * content the terminal can take, and the archive's enrichment reads the
 * position from the stored original before any adaptation, so it loses
 * nothing either way.
 */
export function imageFitsAsIs(plan: Plan, info: ImageInfo, choice: FormatChoice, box: { width: number; height: number }, profile: TerminalProfile): boolean {
  return (
    accepts(profile, plan.mediaType) &&
    (LABEL_OF[info.format] ?? []).includes(plan.mediaType) &&
    choice.format === info.format &&
    choice.animated === info.pages > 1 &&
    info.width <= box.width &&
    info.height <= box.height &&
    (info.orientation === undefined || info.orientation === 1)
  );
}

/** The parts with their media types and kinds, in message order. */
export function planParts(parts: readonly StoredPart[]): Plan[] {
  return parts.map((original, index) => {
    const { mediaType, params } = parseMimeType(original.contentType);
    return { index, original, mediaType, params, kind: kindOf(mediaType) };
  });
}

/**
 * Every image probed (its header only); one the terminal cannot take as it
 * is is also encoded once at the profile's box with the default setting;
 * what cannot be read, is not allowed, or fails becomes an error kept for
 * its notice.
 */
export async function prepareImages(backend: ImageBackend, plans: Plan[], profile: TerminalProfile, multipart: boolean): Promise<Map<number, ImageJob | ImageAdaptationError>> {
  const out = new Map<number, ImageJob | ImageAdaptationError>();
  await Promise.all(
    plans
      .filter((p) => p.kind === 'image')
      .map(async (plan) => {
        try {
          const box = profile.maxImage;
          if (!box) throw new ImageAdaptationError('IMAGE_NO_FORMAT', 'this phone shows no images');
          const data = plan.original.data;
          // Every image is probed, JPEG too: its dimensions and orientation decide whether it can go as it is.
          const info = await backend.probe(data);
          const choice = chooseFormat(info, profile, !multipart);
          if (!choice) throw new ImageAdaptationError('IMAGE_NO_FORMAT', `this phone accepts no image format it can be converted to (from ${info.format})`);
          if (imageFitsAsIs(plan, info, choice, box, profile)) {
            out.set(plan.index, { plan, info, choice, box, asIs: true });
          } else {
            const first = await backend.encode(data, firstRequest(choice, box));
            out.set(plan.index, { plan, info, choice, box, asIs: false, first });
          }
        } catch (e) {
          out.set(plan.index, e instanceof ImageAdaptationError ? e : new ImageAdaptationError('IMAGE_UNREADABLE', `image cannot be adapted: ${String(e)}`));
        }
      }),
  );
  return out;
}

/**
 * Whether the terminal can take this part as it was stored (size aside):
 * the SMIL always (it changes only when another part does), text in a
 * charset the terminal reads, an image it can show unchanged, other media
 * it accepts. A single part is what the envelope names: it is never
 * replaced, so only its size and, for an image, its format can matter.
 */
export function partFitsAsIs(plan: Plan, images: Map<number, ImageJob | ImageAdaptationError>, profile: TerminalProfile, multipart: boolean): boolean {
  switch (plan.kind) {
    case 'smil':
      return true;
    case 'text':
      return !multipart || charsetAccepted(plan.params.charset, profile.charsets);
    case 'image': {
      const job = images.get(plan.index);
      return job !== undefined && !(job instanceof ImageAdaptationError) && job.asIs;
    }
    case 'other':
      return !multipart || accepts(profile, plan.mediaType);
  }
}

/** The action of a part sent as it was stored. */
export function keptAsIs(plan: Plan): PartAction {
  return { index: plan.index, action: 'kept', detail: `${partName(plan.original, plan.index)}: ${plan.mediaType}, ${kb(plan.original.data.length)}, suits this phone as it is` };
}

/**
 * One pass of fitting: every part's fate within `budget` octets of content
 * (part headers excluded), the SMIL rewritten to match.
 */
export async function fitParts(
  backend: ImageBackend,
  plans: Plan[],
  images: Map<number, ImageJob | ImageAdaptationError>,
  profile: TerminalProfile,
  budget: number,
  multipart: boolean,
): Promise<Adaptation> {
  const outcomes: Array<PartOutcome | undefined> = plans.map(() => undefined);
  const actions: PartAction[] = [];
  const noticeCharset = targetCharset('utf-8', profile.charsets);
  // A new name (photo.png → photo.jpg, voice.amr → voice.txt) must not take another part's name.
  const taken = new Set(plans.map((p) => p.original.contentLocation).filter((l): l is string => l !== undefined));
  const uniqueName = (plan: Plan, wanted: string | undefined): string | undefined => {
    if (wanted === undefined || wanted === plan.original.contentLocation) return wanted;
    const dot = wanted.lastIndexOf('.');
    let name = wanted;
    for (let n = 1; taken.has(name); n++) name = dot > 0 ? `${wanted.slice(0, dot)}-${n}${wanted.slice(dot)}` : `${wanted}-${n}`;
    taken.add(name);
    return name;
  };
  const notice = (plan: Plan, why: string, code: string): void => {
    if (!multipart) {
      // A single part's type is the message's (the envelope fixes it): a notice cannot stand in for it.
      outcomes[plan.index] = { part: plan.original, replaced: false };
      actions.push({ index: plan.index, action: 'kept', detail: `${partName(plan.original, plan.index)}: single-part message sent unadapted: ${why}`, code });
      return;
    }
    const text = `[${plan.mediaType} "${partName(plan.original, plan.index)}" (${kb(plan.original.data.length)}) removed: ${why}]`;
    const part: StoredPart = { contentType: formatMimeType('text/plain', { charset: noticeCharset }), data: encodeText(text, noticeCharset) };
    if (plan.original.contentId !== undefined) part.contentId = plan.original.contentId;
    const location = uniqueName(plan, renamed(plan.original.contentLocation, 'txt'));
    if (location !== undefined) part.contentLocation = location;
    outcomes[plan.index] = { part, replaced: true };
    actions.push({ index: plan.index, action: 'replaced', detail: `${partName(plan.original, plan.index)}: ${why}`, code });
  };
  const keep = (plan: Plan, detail: string): void => {
    outcomes[plan.index] = { part: plan.original, replaced: false };
    actions.push({ index: plan.index, action: 'kept', detail: `${partName(plan.original, plan.index)}: ${detail}` });
  };
  const imagePlans = plans.filter((p) => p.kind === 'image' && !(images.get(p.index) instanceof ImageAdaptationError));
  const NOTICE_COST = 160;
  const smilPlans = plans.filter((p) => p.kind === 'smil');
  let room = budget - smilPlans.reduce((n, p) => n + p.original.data.length + 64, 0);

  // Parts we cannot change: kept when accepted and there is room beside minimal shares for images and text.
  const textPlans = plans.filter((p) => p.kind === 'text');
  const decoded = new Map(textPlans.map((p) => [p.index, decodeText(p.original.data, p.params.charset)]));
  // A text the terminal reads as it is wants its own octets; one to convert, its UTF-8 length (near what any target takes).
  const textAsIs = new Set(textPlans.filter((p) => partFitsAsIs(p, images, profile, multipart)).map((p) => p.index));
  const wantedText = (p: Plan): number => (textAsIs.has(p.index) ? p.original.data.length : Buffer.byteLength(decoded.get(p.index)!, 'utf8'));
  const textWanted = textPlans.reduce((n, p) => n + wantedText(p), 0);
  const reserve = imagePlans.length * IMAGE_FLOOR + Math.min(textWanted, TEXT_FLOOR);
  for (const plan of plans) {
    if (plan.kind === 'image') {
      const failed = images.get(plan.index);
      if (failed instanceof ImageAdaptationError) {
        notice(plan, `it could not be adapted (${failed.message})`, failed.code);
        room -= NOTICE_COST;
      }
      continue;
    }
    if (plan.kind !== 'other') continue;
    const size = plan.original.data.length;
    if (!multipart) keep(plan, 'single-part message, sent as it is');
    else if (!accepts(profile, plan.mediaType)) {
      notice(plan, `this phone does not accept ${plan.mediaType}`, 'MEDIA_NOT_ACCEPTED');
      room -= NOTICE_COST;
    } else if (size > room - reserve) {
      notice(plan, `too large for this phone (${kb(size)}; the whole message may be at most ${kb(profile.maxMessageSize)})`, 'MEDIA_TOO_LARGE');
      room -= NOTICE_COST;
    } else {
      keep(plan, `${plan.mediaType}, ${kb(size)}`);
      room -= size;
    }
  }

  // Text: converted to an accepted charset; cut when it would crowd out the images.
  const imageRoomWanted = imagePlans.reduce((n, p) => n + imageWanted(images.get(p.index) as ImageJob), 0);
  // Text too long to sit beside the images as they are gets an equal share with each image, or all the images leave, whichever is more.
  let textRoom = Math.max(0, room);
  if (imagePlans.length > 0 && textWanted > room - imageRoomWanted) {
    textRoom = Math.max(Math.min(TEXT_FLOOR, room), Math.floor(room / (imagePlans.length + 1)), room - imageRoomWanted);
  }
  for (const plan of textPlans) {
    const text = decoded.get(plan.index)!;
    const share = textWanted === 0 ? textRoom : Math.floor((textRoom * wantedText(plan)) / textWanted);
    if (textAsIs.has(plan.index) && plan.original.data.length <= share) {
      // Readable and within its share: not decoded and re-encoded, which could change octets (a BOM, a stray byte).
      outcomes[plan.index] = { part: plan.original, replaced: false };
      actions.push(keptAsIs(plan));
      room -= plan.original.data.length;
      continue;
    }
    // A single part keeps the charset the envelope's content type names.
    const own = writableCharset(plan.params.charset ?? 'us-ascii');
    if (!multipart && !own) {
      keep(plan, 'single-part message in a charset this transcoder does not write, sent as it is');
      continue;
    }
    const charset = multipart || !own ? targetCharset(plan.params.charset, profile.charsets) : own;
    const cut = cutText(text, charset, Math.max(0, share));
    const params = { ...plan.params, charset };
    const part: StoredPart = { ...plan.original, contentType: formatMimeType('text/plain', params), data: cut.data };
    const same = !cut.cut && part.data.equals(plan.original.data) && charset === (plan.params.charset ?? '').toLowerCase();
    outcomes[plan.index] = { part: same ? plan.original : part, replaced: false };
    const from = plan.params.charset ?? 'us-ascii';
    actions.push({
      index: plan.index,
      action: same ? 'kept' : 'adapted',
      detail: `${partName(plan.original, plan.index)}: text ${from}${charset !== from.toLowerCase() ? ` → ${charset}` : ''}${cut.cut ? `, cut to ${kb(cut.data.length)} of ${kb(plan.original.data.length)}` : ''}`,
    });
    room -= cut.data.length;
  }

  // Images share what is left fairly: the small ones keep their size, the rest split the remainder equally.
  const jobs = imagePlans.map((p) => images.get(p.index) as ImageJob);
  const shares = fairShares(
    jobs.map((j) => imageWanted(j)),
    Math.max(0, room),
  );
  await Promise.all(
    jobs.map(async (job, i) => {
      const plan = job.plan;
      if (job.asIs && plan.original.data.length <= shares[i]!) {
        outcomes[plan.index] = { part: plan.original, replaced: false };
        actions.push(keptAsIs(plan));
        return;
      }
      try {
        const img = await fitImage(backend, plan.original.data, job.choice, job.box, shares[i]!, job.first);
        const ext = EXTENSION_OF[img.format];
        const params: Record<string, string> = {};
        if (plan.params.name !== undefined) params.name = renamed(plan.params.name, ext)!;
        const part: StoredPart = { contentType: formatMimeType(MEDIA_TYPE_OF[img.format], params), data: img.data };
        if (plan.original.contentId !== undefined) part.contentId = plan.original.contentId;
        const location = img.format === job.info.format ? plan.original.contentLocation : uniqueName(plan, renamed(plan.original.contentLocation, ext));
        if (location !== undefined) part.contentLocation = location;
        outcomes[plan.index] = { part, replaced: false };
        const frames = img.pages > 1 ? `, ${img.pages} frames` : job.info.pages > 1 ? ', first frame' : '';
        actions.push({
          index: plan.index,
          action: 'adapted',
          detail: `${partName(plan.original, plan.index)}: ${plan.mediaType} ${kb(plan.original.data.length)} → ${MEDIA_TYPE_OF[img.format]} ${img.width}x${img.height}${frames}, ${kb(img.data.length)}`,
        });
      } catch (e) {
        const err = e instanceof ImageAdaptationError ? e : new ImageAdaptationError('IMAGE_UNREADABLE', String(e));
        notice(plan, `it could not be adapted (${err.message})`, err.code);
      }
    }),
  );

  // The presentation last, once every part's fate is known.
  for (const plan of smilPlans) {
    const smil = decodeText(plan.original.data, plan.params.charset ?? 'utf-8');
    const rewritten = rewriteSmil(smil, plans.map((p) => p.original), outcomes);
    if (rewritten === smil) {
      keep(plan, 'presentation unchanged');
    } else {
      outcomes[plan.index] = { part: { ...plan.original, data: Buffer.from(rewritten, 'utf8') }, replaced: false };
      actions.push({ index: plan.index, action: 'adapted', detail: `${partName(plan.original, plan.index)}: presentation rewritten to the remaining parts` });
    }
  }
  const final = outcomes.map((o) => o?.part).filter((p): p is StoredPart => p !== undefined);
  return { parts: final, actions: actions.sort((a, b) => a.index - b.index) };
}

/** What an image asks of the budget: its own octets when it can go as it is, else its first encode's. */
function imageWanted(job: ImageJob): number {
  return job.asIs || !job.first ? job.plan.original.data.length : job.first.data.length;
}

/**
 * Water-filling: each item gets at most what it asks for; what the small
 * ones leave is split equally among the others. Shares sum to `total`
 * at most.
 */
export function fairShares(wanted: readonly number[], total: number): number[] {
  const shares = wanted.map(() => 0);
  const order = wanted.map((w, i) => [w, i] as const).sort((a, b) => a[0] - b[0]);
  let left = total;
  order.forEach(([w, i], k) => {
    const equal = Math.floor(left / (order.length - k));
    shares[i] = Math.min(w, equal);
    left -= shares[i]!;
  });
  return shares;
}
