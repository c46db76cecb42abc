// `cgh worker` and `cgh queue` with the test grid executor in place of the experiments layer's.
import { runCommand } from '../../cli/run-command.js';
import { workerCommand } from '../../cli/worker.js';
import { queueCommand } from '../../cli/queue.js';
import { fakeExecutor } from './fake-grid.js';

process.exitCode = await runCommand(async ([command, ...rest]) => {
  if (command === 'worker') return workerCommand(rest, fakeExecutor);
  const adapters = async () => (process.env.FAKE_ADAPTERS ?? '').split(',').filter(Boolean);
  if (command === 'queue') return queueCommand(rest, { executor: fakeExecutor, adapters });
  throw new Error(`unknown command ${command}`);
}, process.argv.slice(2));
