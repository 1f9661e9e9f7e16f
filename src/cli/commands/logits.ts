/** `wavefilter logits`: the logits of one bidirectional forward pass, as JSON. */
import type { Device } from '../../model/runtime.js';
import type { Command } from 'commander';
import { WavefilterError } from '../../errors.js';
import { loadModel } from '../../engine.js';
import { idsArg, intArg, numArg, threadsArg, deviceArg, DEVICE_HELP } from '../args.js';
import { idsFromFile } from '../input.js';
import { modelDir } from '../grid-options.js';

export function logitsCommand(program: Command): void {
  program
  .command('logits')
  .description('print the logits of one bidirectional forward pass (raw, before Dream\'s shift)')
  .option('--model <dir>', 'checkpoint folder (default: the bundled model)')
  .option('--input-ids <ids>', 'token ids, comma-separated', idsArg('--input-ids'))
  .option('--input-ids-file <file>', 'token ids from a file ("-" = stdin), separated by commas or whitespace')
  .option('--threads <n>', 'ONNX Runtime intra-op threads (at most this machine\'s cores)', threadsArg())
  .option('--device <device>', DEVICE_HELP, deviceArg())
  .option('--rope-theta <x>', 'context extension: RoPE base instead of the config\'s (e.g. NTK scaling for prompts beyond the trained length)', numArg('--rope-theta', { min: 0, minExclusive: true, max: 1e12 }))
  .option('--max-length <n>', 'context extension: context limit instead of the config\'s max_sequence_length', intArg('--max-length', { min: 1, max: 1 << 20 }))
  .option('--json', 'print {"logits": [[...], ...]} to stdout (the default output)')
  .action(async (f: { model?: string; inputIds?: number[]; inputIdsFile?: string; threads?: number; device?: Device; ropeTheta?: number; maxLength?: number }) => {
    if ((f.inputIds === undefined) === (f.inputIdsFile === undefined)) throw new WavefilterError('invalid_option', 'give exactly one of --input-ids or --input-ids-file', { option: 'input-ids' });
    const ids = f.inputIdsFile !== undefined ? idsFromFile(f.inputIdsFile) : (f.inputIds as number[]);
    const model = await loadModel(modelDir(f.model), { device: f.device, threads: f.threads, ropeTheta: f.ropeTheta, maxLength: f.maxLength });
    const rows = await model.logits(ids);
    await model.dispose();
    process.stdout.write(`${JSON.stringify({ logits: rows.map((r) => Array.from(r)) })}\n`);
  });
}
