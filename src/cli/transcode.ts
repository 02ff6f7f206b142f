/** `mmsc transcode --profile NAME FILE...`: what the transcoder would make of these parts for a terminal, and the adapted parts written out. */
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { basename, extname, join } from 'node:path';
import type { Command } from 'commander';
import type { StoredPart } from '../mmsc/model.js';
import type { MessageHead } from '../mmsc/convert.js';
import { defaultProfileDir, loadProfileRegistry, loadUaprofFile, ProfileError, TerminalTranscoder, type ProfileMatch } from '../transcode/index.js';
import { CliError, write, type CliStreams } from './io.js';

const TYPE_BY_EXTENSION: Record<string, string> = {
  '.smil': 'application/smil',
  '.smi': 'application/smil',
  '.txt': 'text/plain; charset=utf-8',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.png': 'image/png',
  '.gif': 'image/gif',
  '.webp': 'image/webp',
  '.avif': 'image/avif',
  '.heic': 'image/heic',
  '.heif': 'image/heif',
  '.wbmp': 'image/vnd.wap.wbmp',
  '.amr': 'audio/amr',
  '.3gp': 'video/3gpp',
  '.mp4': 'video/mp4',
  '.vcf': 'text/x-vcard',
  '.vcs': 'text/x-vcalendar',
};

interface TranscodeOptions {
  profile: string;
  profiles?: string;
  out: string;
  dryRun?: boolean;
  contentType?: string[];
}

export function registerTranscode(program: Command, io: CliStreams): void {
  program
    .command('transcode')
    .description('adapt message parts to a terminal profile as a retrieval would: print what is done to each part, write the adapted parts')
    .requiredOption('--profile <name>', 'a profile of conf/terminals (default, feature-phone, mid-range, smartphone, …) or a UAProf file (.rdf/.xml)')
    .option('--profiles <dir>', 'the profile directory (default: conf/terminals of the package)')
    .option('--out <dir>', 'where the adapted parts are written', 'transcoded')
    .option('--dry-run', 'only print what would be done')
    .argument('<files...>', 'the parts, in message order; the type comes from the extension (.smil, .txt, .jpg, .png, .gif, .amr, .3gp, …)')
    .action(async (files: string[], o: TranscodeOptions) => {
      let match: ProfileMatch;
      let registry;
      try {
        registry = loadProfileRegistry(o.profiles ?? defaultProfileDir());
        const named = registry.lookup(o.profile);
        if (named) match = { profile: named, by: 'default' };
        else if (/\.(rdf|xml)$/i.test(o.profile) && existsSync(o.profile)) match = { profile: loadUaprofFile(o.profile), by: 'x-wap-profile' };
        else throw new CliError(`--profile ${JSON.stringify(o.profile)}: no such profile (known: ${registry.names.join(', ')}) and not a UAProf file`);
      } catch (e) {
        if (e instanceof ProfileError) throw new CliError(e.message);
        throw e;
      }
      const parts: StoredPart[] = [];
      for (const file of files) {
        let data: Buffer;
        try {
          data = await readFile(file);
        } catch (e) {
          throw new CliError(`cannot read ${file}: ${(e as Error).message}`);
        }
        const contentType = TYPE_BY_EXTENSION[extname(file).toLowerCase()] ?? 'application/octet-stream';
        const part: StoredPart = { contentType, contentLocation: basename(file), data };
        if (contentType === 'application/smil') part.contentId = 'smil';
        parts.push(part);
      }
      const smil = parts.some((p) => p.contentType === 'application/smil');
      const head: MessageHead = {
        messageId: 'cli',
        envelope: {
          from: '+10000000000',
          to: ['+10000000001'],
          cc: [],
          bcc: [],
          date: new Date(0),
          expiresAt: new Date(0),
          deliveryReport: false,
          readReport: false,
          contentType: smil ? 'multipart/related; start="<smil>"; type="application/smil"' : 'multipart/mixed',
          allowAdaptations: true,
          origin: { interface: 'mm1', msisdn: '+10000000000', transactionId: 'cli' },
        },
      };
      const transcoder = new TerminalTranscoder({ profiles: registry });
      const report = await transcoder.adaptFor(head, parts, match);
      const p = report.match.profile;
      const lines = [
        `profile ${p.name} (${p.contentClass}): at most ${p.maxMessageSize} octets, images ${p.maxImage ? `${p.maxImage.width}x${p.maxImage.height}` : 'none'}`,
        ...report.actions.map((a) => `  ${a.action.padEnd(8)} ${a.detail}${a.code ? ` [${a.code}]` : ''}`),
        `M-Retrieve.conf: ${report.size} octets, ${report.fits ? 'fits' : 'DOES NOT FIT'} (limit ${p.maxMessageSize})`,
      ];
      if (!o.dryRun) {
        await mkdir(o.out, { recursive: true });
        for (const [i, part] of report.parts.entries()) {
          const name = basename(part.contentLocation ?? `part-${i + 1}`);
          await writeFile(join(o.out, name), part.data);
          lines.push(`wrote ${join(o.out, name)} (${part.contentType}, ${part.data.length} octets)`);
        }
      }
      await write(io.stdout, `${lines.join('\n')}\n`);
    });
}
