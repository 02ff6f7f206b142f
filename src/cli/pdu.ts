/** `mmsc pdu decode|encode|annotate`: MMS PDUs, WSP pushes and SMS user data as JSON and back. */
import { Option, type Command } from 'commander';
import { annotateMms, formatAnnotated, type Json } from '../../protocol/mms/index.js';
import { CliError, explain, hexLines, readInput, readPdu, write, type CliStreams } from './io.js';
import { decodeToJson, detectJsonKind, detectKind, encodeFromJson, PDU_KINDS, type PduKind } from './pdu-json.js';

interface PduOptions {
  hex?: boolean;
  as?: PduKind;
}

const asOption = (): Option => new Option('--as <kind>', 'what the input is (default: detected)').choices(PDU_KINDS);

export function registerPdu(program: Command, io: CliStreams): void {
  const pdu = program.command('pdu').description('decode, encode and annotate MMS PDUs, WSP pushes and SMS user data');

  pdu
    .command('decode')
    .description('print a binary PDU as JSON')
    .argument('[file]', 'the PDU, or - for stdin', '-')
    .option('--hex', 'the input is hex text (whitespace and # comments allowed)')
    .addOption(asOption())
    .addHelpText(
      'after',
      '\nDetection without --as: 8C first is an MMS PDU; a UDHL with a ports or concatenation IE\n' +
        'is SMS user data; 06 or 07 second is a WSP push (TID first).\n\n' +
        'Example:\n  mmsc pdu decode --hex fixtures/pdu/m-send-req.hex',
    )
    .action(async (file: string, opts: PduOptions) => {
      const bytes = await readPdu(file, opts.hex, io.stdin);
      if (bytes.length === 0 && opts.as === undefined) throw new CliError('the input is empty');
      const kind = opts.as ?? detectKind(bytes);
      if (kind === undefined) {
        throw new CliError('cannot tell whether the input is an MMS PDU, a WSP push or SMS user data; say it with --as mms|push|sms');
      }
      const json = await explain('malformed PDU', () => decodeToJson(bytes, kind));
      await write(io.stdout, `${JSON.stringify(json, null, 2)}\n`);
    });

  pdu
    .command('encode')
    .description('turn the JSON of `pdu decode` back into a binary PDU')
    .argument('[file]', 'the JSON, or - for stdin', '-')
    .option('--hex', 'print hex (16 octets a line) instead of binary')
    .addOption(asOption())
    .addHelpText('after', '\nExample:\n  mmsc pdu decode --hex fixtures/pdu/m-send-req.hex | mmsc pdu encode --hex')
    .action(async (file: string, opts: PduOptions) => {
      const text = (await readInput(file, io.stdin)).toString('utf8');
      let json: Json;
      try {
        json = JSON.parse(text) as Json;
      } catch (e) {
        throw new CliError(`the input is not JSON: ${(e as Error).message}`);
      }
      const kind = opts.as ?? detectJsonKind(json);
      if (kind === undefined) {
        throw new CliError('cannot tell the kind of PDU from the JSON keys (X-Mms-Message-Type, PDU-Type/TID, UDH); say it with --as mms|push|sms');
      }
      const bytes = await explain('cannot encode', () => encodeFromJson(json, kind));
      await write(io.stdout, opts.hex ? hexLines(bytes) : bytes);
    });

  pdu
    .command('annotate')
    .description('print an MMS PDU as hex with a # comment per header and part (the fixtures/pdu format)')
    .argument('[file]', 'the MMS PDU, or - for stdin', '-')
    .option('--hex', 'the input is hex text (whitespace and # comments allowed)')
    .action(async (file: string, opts: PduOptions) => {
      const bytes = await readPdu(file, opts.hex, io.stdin);
      const text = await explain('malformed PDU', () => formatAnnotated(annotateMms(bytes)));
      await write(io.stdout, text);
    });
}
