/**
 * `wavefilter inspect`: what a checkpoint folder holds and what a generation on it would need in
 * memory, without building a session (fast, also for an 8B checkpoint on a laptop).
 */
import { type Command, Option } from 'commander';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { totalmem } from 'node:os';
import { readModelSpec } from '../../checkpoint/config.js';
import { TensorStore } from '../../checkpoint/safetensors.js';
import { validateWeights, parseDevice, type Device } from '../../model/runtime.js';
import { estimateMemory, gib } from '../../model/memory.js';
import { graphTuning } from '../../engine.js';
import { cudaMemoryTotal } from '../../model/device-memory.js';
import { DEVICE_HELP, deviceArg, intArg } from '../args.js';
import { modelDir } from '../grid-options.js';

interface InspectFlags {
  model?: string;
  promptLength: number;
  genLength: number;
  blockLength: number;
  device?: Device;
  dtype: 'fp32' | 'fp16';
  json?: boolean;
}

export function inspectCommand(program: Command): void {
  program
    .command('inspect')
    .description('describe a checkpoint folder and estimate the memory a generation on it needs (no session is built)')
    .option('--model <dir>', 'checkpoint folder (default: the bundled model)')
    .option('--prompt-length <n>', 'prompt tokens for the memory estimate', intArg('--prompt-length', { min: 1, max: 1 << 22 }), 4096)
    .option('--gen-length <n>', 'generated tokens', intArg('--gen-length', { min: 1, max: 65536 }), 64)
    .option('--block-length <n>', 'block length', intArg('--block-length', { min: 1, max: 65536 }), 32)
    .option('--device <device>', DEVICE_HELP, deviceArg())
    .addOption(new Option('--dtype <type>', 'compute type').choices(['fp32', 'fp16']).default('fp32'))
    .option('--json', 'print one JSON object')
    .action((f: InspectFlags) => {
      const dir = modelDir(f.model);
      const spec = readModelSpec(dir);
      const store = TensorStore.open(dir);
      validateWeights(spec, store);
      const dtypes = [...new Set([...store.tensors.values()].map((t) => t.dtype))].sort();
      const bytesOnDisk = [...store.tensors.values()].reduce((a, t) => a + t.byteLength, 0);
      const device = parseDevice(f.device);
      // (the graph knobs a model loaded with this dtype gets: graphTuning's defaults)
      const e = estimateMemory(spec, { promptLength: f.promptLength, genLength: f.genLength, blockLength: f.blockLength, dtype: f.dtype, executor: 'block', kvAround: graphTuning(f.dtype).cachedAttention === 'replace' });
      const available = device.provider === 'cuda' ? cudaMemoryTotal(device.deviceId) : totalmem();
      const where = device.provider === 'cuda' ? `cuda:${device.deviceId}` : 'host';
      const out = {
        model: dir, family: spec.family, layers: spec.nLayers, d_model: spec.dModel, heads: spec.nHeads, kv_heads: spec.nKvHeads, head_dim: spec.headDim,
        ffn: spec.ffnHidden, vocab: spec.vocabSize, context: spec.maxSequenceLength, rope_theta: spec.ropeTheta, mask_token_id: spec.maskTokenId,
        parameters: e.parameters, weight_files: store.files.length, weight_dtypes: dtypes, weight_bytes_on_disk: bytesOnDisk,
        tokenizer: existsSync(join(dir, 'tokenizer.json')),
        memory: {
          prompt_length: f.promptLength, gen_length: f.genLength, block_length: f.blockLength, dtype: f.dtype, device: where,
          weights_bytes: e.weightsBytes, kv_bytes: e.kvBytes, activation_bytes: e.activationBytes, total_bytes: e.totalBytes,
          available_bytes: available, fits: available === null ? null : e.totalBytes <= available,
        },
      };
      if (f.json) {
        process.stdout.write(`${JSON.stringify(out)}\n`);
        return;
      }
      const lines = [
        `${dir}: ${spec.family}, ${(e.parameters / 1e9).toFixed(2)}B parameters (${spec.nLayers} layers, d_model ${spec.dModel}, ${spec.nHeads} heads / ${spec.nKvHeads} KV, FFN ${spec.ffnHidden}, vocabulary ${spec.vocabSize})`,
        `weights: ${store.files.length} file(s), ${dtypes.join(', ')}, ${gib(bytesOnDisk)}; context ${spec.maxSequenceLength}; tokenizer ${out.tokenizer ? 'yes' : 'no'}`,
        `memory for a ${f.promptLength}-token prompt + ${f.genLength} generated (${f.dtype}, block program), at least:`,
        `  weights ${gib(e.weightsBytes)} + K/V ${gib(e.kvBytes)} + activations ${gib(e.activationBytes)} = ${gib(e.totalBytes)}`,
        `  ${where}: ${available === null ? 'unknown (no nvidia-smi)' : `${gib(available)} (${e.totalBytes <= available ? 'fits' : 'does NOT fit'})`}`,
      ];
      process.stdout.write(`${lines.join('\n')}\n`);
    });
}
