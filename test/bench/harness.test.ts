import t from 'tap';
import { parseArgs, positiveInt, present, type Flags } from '../../bench/harness.js';

interface Opts {
  n: number;
  log: boolean;
}
const FLAGS: Flags<Opts> = { '--n': ['n', positiveInt], '--log': ['log', present] };
const DEFAULTS: Opts = { n: 10, log: false };

t.test('parseArgs: value flags take the next argument, a present flag takes none', async (t) => {
  t.same(parseArgs([], DEFAULTS, FLAGS, 'u'), { n: 10, log: false });
  t.same(parseArgs(['--log', '--n', '5'], DEFAULTS, FLAGS, 'u'), { n: 5, log: true }, '--log does not swallow --n');
  t.same(parseArgs(['--n', '7', '--log'], DEFAULTS, FLAGS, 'u'), { n: 7, log: true }, 'a present flag last');
  t.throws(() => parseArgs(['--nope'], DEFAULTS, FLAGS, '--n N --log'), /unknown argument --nope \(use --n N --log\)/);
  t.throws(() => parseArgs(['--n'], DEFAULTS, FLAGS, 'u'), /--n/, 'a value flag without its value');
});
