import { UsageError } from './args.js';

/** The user stopped the command (Ctrl-C) and its work can continue; exit code 130 as for SIGINT. */
export class Interrupted extends Error {
  override name = 'Interrupted';
}

/**
 * Runs a command and turns any error into one line on stderr, `cgh: <message>`: exit code 2 for
 * usage errors, 130 for an interruption, 1 for the rest; the stack trace only with CGH_DEBUG=1.
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
    return e instanceof UsageError ? 2 : e instanceof Interrupted ? 130 : 1;
  }
}
