import { UsageError } from './args.js';
import { StoppedBySignal } from './stop-signals.js';

/**
 * Runs a command and turns any error into one line on stderr, `cgh: <message>`: exit code 2 for
 * usage errors, the signal's code for a run stopped by one, 1 for the rest; the stack trace only with CGH_DEBUG=1.
 */
export async function runCommand(command: (argv: string[]) => Promise<void>, argv: string[]): Promise<number> {
  try {
    await command(argv);
    return 0;
  } catch (e) {
    const err = e instanceof Error ? e : new Error(String(e));
    const debug = process.env.CGH_DEBUG === '1';
    const internal = ['TypeError', 'RangeError', 'ReferenceError', 'SyntaxError'].includes(err.name);
    const message = (err.message || err.name).split('\n')[0];
    const hint = internal && !debug ? ' (an internal error; CGH_DEBUG=1 shows where)' : '';
    process.stderr.write(`cgh: ${message}${hint}\n${debug ? `${err.stack}\n` : ''}`);
    return e instanceof UsageError ? 2 : e instanceof StoppedBySignal ? e.exitCode : 1;
  }
}
