/**
 * Server 2 in a child process, for the SIGKILL test: argv[2] is the
 * configuration as JSON. Prints `PORT <n>` once listening; SIGTERM stops it
 * cleanly (exit 0).
 */
import { ArchiveNode } from '../../src/archive/node.js';
import { loadArchiveConfig } from '../../src/config/archive.js';

const node = new ArchiveNode({ config: loadArchiveConfig(JSON.parse(process.argv[2]!)) });
await node.start();
process.stdout.write(`PORT ${node.port}\n`);
process.on('SIGTERM', () => {
  void node.stop().then(() => process.exit(0));
});
