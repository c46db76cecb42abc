// `cgh models`: the models of models/registry.ts with their parameter counts.
import { listModels } from '../models/registry.js';
import { helpText, parseArgs, UsageError } from './args.js';
import { formatTable } from './table.js';

const MODELS_SPEC = {
  name: 'models',
  summary: 'List the models cgh train --model accepts, with their parameter counts for the given input.',
  flags: [
    { name: 'input', type: 'int-list', min: 1, metavar: 'C,H,W', help: 'input shape of one example (default: each model\'s standard input)' },
    { name: 'classes', type: 'int', min: 1, help: 'number of classes (default: each model\'s own, 1000 for ImageNet models, else 10)' },
    { name: 'width', type: 'number', min: 0, exclusiveMin: true, default: 1, help: 'width multiplier of the channels (and of the mlp\'s hidden widths)' },
    { name: 'hidden', type: 'int-list', default: [1024, 1024], min: 1, help: 'hidden widths of the mlp (as cgh train --hidden)' },
  ],
} as const;

export async function modelsCommand(argv: string[]): Promise<void> {
  const a = parseArgs(MODELS_SPEC, argv);
  if (a.help) { console.log(helpText(MODELS_SPEC)); return; }
  if (a.input && a.input.length !== 3) throw new UsageError(`--input expects C,H,W (three numbers), got ${a.input.join(',')} (see cgh models --help)`);
  const rows = listModels({ inputShape: a.input, numClasses: a.classes, width: a.width, hidden: a.hidden });
  console.log(formatTable([
    { key: 'name', title: 'model', align: 'left' },
    { key: 'input', title: 'input' },
    { key: 'numClasses', title: 'classes' },
    { key: 'parameters', title: 'parameters' },
    { key: 'description', title: 'description', align: 'left' },
  ], rows.map((r) => ({ ...r, input: r.inputShape.join('x'), parameters: r.parameters ?? 'n/a',
    description: r.error ? `does not fit: ${r.error}` : r.description }))));
  console.log(`\nwidth ${a.width}; mlp hidden ${a.hidden.join(',')}. Train one with cgh train --model NAME.`);
}

