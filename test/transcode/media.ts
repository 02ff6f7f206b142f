/**
 * Media for the transcoder tests, built with sharp in the test (big images
 * would bloat fixtures/): a photo-like 4000x3000 JPEG, a PNG with
 * transparency, an animated GIF, AMR-NB audio, a 3GP video, SMIL, and an
 * image backend that counts its calls.
 */
import sharp from 'sharp';
import type { MessageHead } from '../../src/mmsc/convert.js';
import type { StoredPart } from '../../src/mmsc/model.js';
import { SharpImageBackend, type ImageBackend, type ImageRequest } from '../../src/transcode/index.js';

/** Smooth gradients with some detail, so the JPEG compresses like a photo, not like noise or a flat colour. */
export async function photoJpeg(width: number, height: number, quality = 90): Promise<Buffer> {
  const raw = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const o = (y * width + x) * 3;
      raw[o] = (x * 255) / width;
      raw[o + 1] = (y * 255) / height;
      raw[o + 2] = ((x >> 3) ^ (y >> 3)) & 0xff;
    }
  }
  return sharp(raw, { raw: { width, height, channels: 3 } }).jpeg({ quality }).toBuffer();
}

/** 800x600, left half opaque red, right half fully transparent. */
export async function transparentPng(): Promise<Buffer> {
  const width = 800;
  const height = 600;
  const raw = Buffer.alloc(width * height * 4);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const o = (y * width + x) * 4;
      raw[o] = 220;
      raw[o + 1] = (y * 255) / height;
      raw[o + 2] = 40;
      raw[o + 3] = x < width / 2 ? 255 : 0;
    }
  }
  return sharp(raw, { raw: { width, height, channels: 4 } }).png().toBuffer();
}

/** Three 300x200 frames of different colours, looping. */
export async function animatedGif(frames = 3): Promise<Buffer> {
  const width = 300;
  const height = 200;
  const raw = Buffer.alloc(width * height * 3 * frames);
  for (let f = 0; f < frames; f++) {
    for (let i = 0; i < width * height; i++) {
      const o = (f * width * height + i) * 3;
      raw[o] = f * 90;
      raw[o + 1] = 120;
      raw[o + 2] = 255 - f * 90;
    }
  }
  return sharp(raw, { raw: { width, height: height * frames, channels: 3, pageHeight: height } })
    .gif({ loop: 0, delay: Array.from({ length: frames }, () => 200) })
    .toBuffer();
}

/**
 * AMR-NB storage format (RFC 4867 §5): the magic `#!AMR\n`, then frames of
 * a TOC octet (F=0, FT=7 for 12.2 kbit/s, Q=1) and 31 octets of speech bits.
 */
export function amrAudio(frames = 50): Buffer {
  const frame = Buffer.alloc(32, 0x5a);
  frame[0] = (7 << 3) | 0x04;
  return Buffer.concat([Buffer.from('#!AMR\n', 'latin1'), ...Array.from({ length: frames }, () => frame)]);
}

/** A 3GP file's shape: an `ftyp` box (brand 3gp4) and an `mdat` of `octets` filler. */
export function video3gp(octets: number): Buffer {
  const ftyp = Buffer.alloc(20);
  ftyp.writeUInt32BE(20, 0);
  ftyp.write('ftyp3gp4', 4, 'latin1');
  ftyp.writeUInt32BE(0x200, 12);
  ftyp.write('3gp4', 16, 'latin1');
  const mdat = Buffer.alloc(8 + octets, 0x11);
  mdat.writeUInt32BE(8 + octets, 0);
  mdat.write('mdat', 4, 'latin1');
  return Buffer.concat([ftyp, mdat]);
}

export const SMIL = `<smil xmlns="http://www.w3.org/2001/SMIL20/Language">
  <head>
    <layout>
      <root-layout width="320" height="480"/>
      <region id="Image" left="0%" top="0%" width="100%" height="70%" fit="meet"/>
      <region id="Text" left="0%" top="70%" width="100%" height="30%" fit="scroll"/>
      <region id="Video" left="0%" top="0%" width="100%" height="70%" fit="meet"/>
    </layout>
  </head>
  <body>
    <par dur="5000ms"><img src="photo.jpg" region="Image"/><text src="story.txt" region="Text"/></par>
    <par dur="5000ms"><img src="cid:logo" region="Image"/></par>
    <par dur="5000ms"><img src="anim.gif" region="Image"/><audio src="voice.amr"/></par>
    <par><video src="clip.3gp" region="Video"/></par>
  </body>
</smil>`;

export interface TestMedia {
  photo: Buffer;
  png: Buffer;
  gif: Buffer;
  amr: Buffer;
  video: Buffer;
  text: string;
}

let media: Promise<TestMedia> | undefined;

/** Built once per test file. The video is 250 KB: kept by the 300 KB and 600 KB profiles only when the budget allows. */
export function testMedia(): Promise<TestMedia> {
  media ??= (async () => ({
    photo: await photoJpeg(4000, 3000),
    png: await transparentPng(),
    gif: await animatedGif(),
    amr: amrAudio(),
    video: video3gp(150_000),
    // ~120 KB of UTF-8 text with non-ASCII letters.
    text: 'Grüße aus Zürich — the lab report follows. '.repeat(2800),
  }))();
  return media;
}

/** The whole test message: SMIL, a 4000x3000 JPEG, a long text, a transparent PNG, an animated GIF, AMR, a 3GP video. */
export function fullMessage(m: TestMedia): StoredPart[] {
  return [
    { contentType: 'application/smil', contentId: 'smil', contentLocation: 'pres.smil', data: Buffer.from(SMIL) },
    { contentType: 'image/jpeg', contentId: 'photo', contentLocation: 'photo.jpg', data: m.photo },
    { contentType: 'text/plain; charset=utf-8', contentId: 'story', contentLocation: 'story.txt', data: Buffer.from(m.text, 'utf8') },
    { contentType: 'image/png', contentId: 'logo', contentLocation: 'logo.png', data: m.png },
    { contentType: 'image/gif', contentId: 'anim', contentLocation: 'anim.gif', data: m.gif },
    { contentType: 'audio/amr', contentId: 'voice', contentLocation: 'voice.amr', data: m.amr },
    { contentType: 'video/3gpp', contentId: 'clip', contentLocation: 'clip.3gp', data: m.video },
  ];
}

export function head(opts: { allowAdaptations?: boolean; contentType?: string; subject?: string } = {}): MessageHead {
  return {
    messageId: 'MSG-1',
    envelope: {
      from: '+15550001111',
      to: ['+15550002222'],
      cc: [],
      bcc: [],
      subject: opts.subject ?? 'Holiday',
      date: new Date(Date.UTC(2024, 4, 1)),
      expiresAt: new Date(Date.UTC(2024, 4, 3)),
      deliveryReport: false,
      readReport: false,
      contentType: opts.contentType ?? 'multipart/related; start="<smil>"; type="application/smil"',
      allowAdaptations: opts.allowAdaptations ?? true,
      origin: { interface: 'mm7', vaspId: 'demo', release: 'REL-5-MM7-1-0', mm7Version: '5.3.0' },
    },
  };
}

/** The sharp backend, counting what it is asked to do. */
export class CountingBackend implements ImageBackend {
  probes = 0;
  encodes = 0;
  readonly requests: ImageRequest[] = [];
  constructor(readonly inner: ImageBackend = new SharpImageBackend()) {}
  probe(data: Buffer): ReturnType<ImageBackend['probe']> {
    this.probes++;
    return this.inner.probe(data);
  }
  encode(data: Buffer, request: ImageRequest): ReturnType<ImageBackend['encode']> {
    this.encodes++;
    this.requests.push(request);
    return this.inner.encode(data, request);
  }
  get calls(): number {
    return this.probes + this.encodes;
  }
}
