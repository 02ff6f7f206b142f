/** `mmsc ARGS` from the TypeScript sources, for tests that need a real process (signals). */
import { main } from '../../src/cli/main.js';

process.exitCode = await main(process.argv);
