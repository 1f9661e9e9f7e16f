/** `wavefilter demo`: one fresh RULER prompt answered by the dual cache, without and with WaveFilter. */
import type { Device } from '../../model/runtime.js';
import type { Command } from 'commander';
import { WavefilterError } from '../../errors.js';
import { loadModel } from '../../engine.js';
import { intArg, threadsArg, deviceArg, DEVICE_HELP } from '../args.js';
import { modelDir } from '../grid-options.js';
import { RULER_TASKS, usesEssay } from '../../eval/ruler/tasks.js';
import { rulerPrompts } from '../../eval/ruler/run.js';
import { matchAll, matchPart, postprocess } from '../../eval/ruler/metrics.js';
import { findEssayCorpus, loadWordSources } from '../../eval/ruler/sources.js';

export function demoCommand(program: Command): void {
  program
  .command('demo')
  .description('a long-context retrieval on the bundled model: one fresh RULER prompt answered by the Fast-dLLM dual cache, without and with WaveFilter')
  .option('--model <dir>', 'checkpoint folder (default: the bundled model)')
  .option('--task <name>', 'RULER task (noise and needle haystacks need no corpus)', 'niah_single_1')
  .option('--length <n>', 'prompt length in tokens (128 to the model\'s context)', intArg('--length', { min: 128, max: 1 << 20 }), 4096)
  .option('--seed <n>', 'generator seed (training used seeds >= 1,000,000)', intArg('--seed', { min: 0 }), 7)
  .option('--threads <n>', 'ONNX Runtime intra-op threads (at most this machine\'s cores)', threadsArg())
  .option('--device <device>', DEVICE_HELP, deviceArg())
  .option('--json', 'print the two answers and timings as JSON')
  .action(async (f: { model?: string; task: string; length: number; seed: number; threads?: number; device?: Device; json?: boolean }) => {
    const task = RULER_TASKS.find((t) => t.name === f.task);
    if (!task) throw new WavefilterError('invalid_option', `--task: unknown task ${f.task}; expected ${RULER_TASKS.map((t) => t.name).join(', ')}`, { option: 'task' });
    const model = await loadModel(modelDir(f.model), { device: f.device, threads: f.threads });
    if (f.length > model.spec.maxSequenceLength) {
      await model.dispose();
      throw new WavefilterError('invalid_option', `option --length: expected at most the model's context (${model.spec.maxSequenceLength}), found ${f.length}`, { option: 'length' });
    }
    const essay = usesEssay(task.name) ? findEssayCorpus() : null;
    const { samples: [sample], ids: [ids], genLength } = rulerPrompts(model, task.name, f.length, 1, 32, { words: loadWordSources(), essay: essay?.text, essayId: essay?.id, seed: f.seed });
    const runs: Array<{ method: string; answer: string; correct: boolean; seconds: number }> = [];
    for (const [method, opts] of [['dual cache', {}], ['dual cache + WaveFilter (practical)', { filter: 'wavefilter' as const }]] as const) {
      const t0 = performance.now();
      const out = await model.generate({ inputIds: ids }, { genLength, blockLength: 32, steps: genLength, threshold: 0.9, cache: 'dual', ...opts });
      const answer = postprocess(out.text ?? '');
      runs.push({ method, answer, correct: (sample.metric === 'all' ? matchAll : matchPart)(answer, sample.outputs) === 1, seconds: (performance.now() - t0) / 1000 });
    }
    await model.dispose();
    if (f.json) {
      process.stdout.write(`${JSON.stringify({ task: task.name, prompt_tokens: ids.length, references: sample.outputs, runs })}\n`);
      return;
    }
    const question = sample.input.slice(sample.input.lastIndexOf('\n') + 1);
    process.stdout.write(`${task.name}: a ${ids.length}-token prompt (seed ${f.seed}); the question at its end:\n  ${question}\nexpected: ${sample.outputs.join(', ')}\n`);
    for (const r of runs) process.stdout.write(`  ${r.correct ? 'correct' : 'WRONG  '}  ${r.method.padEnd(38)} ${JSON.stringify(r.answer)}  (${r.seconds.toFixed(1)} s)\n`);
  });
}
