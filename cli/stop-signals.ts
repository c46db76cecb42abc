// Ctrl-C (SIGINT) and SIGTERM stop a training command at its next step boundary, checkpointed there; a second
// one exits at once (the checkpoint on disk stays valid: every write to it is atomic).

/** Exit codes of a command stopped by a signal, as a shell reports them (128 + the signal's number). */
export const SIGNAL_EXIT_CODES = { SIGINT: 130, SIGTERM: 143 } as const;
type StopSignalName = keyof typeof SIGNAL_EXIT_CODES;

/** A command stopped on purpose; runCommand prints its message as one line and exits with its code. */
export class StoppedBySignal extends Error {
  override name = 'StoppedBySignal';
  constructor(message: string, readonly exitCode: number) {
    super(message);
  }
}

export interface SignalStop {
  /** Aborted by the first SIGINT or SIGTERM. */
  signal: AbortSignal;
  /** The exit code of the signal received (null before one). */
  exitCode(): number | null;
  /** Removes the handlers. */
  dispose(): void;
}

/** Installs the handlers; `rerun` says how to continue (e.g. "rerun the same command with --resume"). */
export function stopOnSignals(rerun: string): SignalStop {
  const controller = new AbortController();
  let received: StopSignalName | null = null;
  const handlers = (Object.keys(SIGNAL_EXIT_CODES) as StopSignalName[]).map((name) => {
    const onSignal = () => {
      if (received) {
        process.stderr.write(`cgh: stopped at once; ${rerun} to continue from the last checkpoint\n`);
        process.exit(SIGNAL_EXIT_CODES[name]);
      }
      received = name;
      controller.abort(new Error(`stopped by ${name}`));
    };
    process.on(name, onSignal);
    return { name, onSignal };
  });
  return {
    signal: controller.signal,
    exitCode: () => (received ? SIGNAL_EXIT_CODES[received] : null),
    dispose: () => { for (const h of handlers) process.off(h.name, h.onSignal); },
  };
}
