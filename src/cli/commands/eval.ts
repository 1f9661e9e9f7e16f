/**
 * `wavefilter eval ruler|niah|longbench|merge` (alias: `bench`): the quality evaluations, each a
 * grid of cache hosts and token filters on identical prompts, written to a resumable results
 * folder. Speed benchmarks are `npm run bench` (bench/).
 */
import { type Command, Option } from 'commander';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { WavefilterError } from '../../errors.js';
import { MiB, readUserJson } from '../../files.js';
import { importOptional } from '../../optional.js';
import { intArg, listArg, namesArg } from '../args.js';
import { type GridFlags, LENGTH_RANGE, gridMethods, openModel, progressBar, withGridOptions } from '../grid-options.js';
import { newResultsDir, readJsonLines } from '../../eval/results-file.js';
import { RULER_TASKS, type RulerTaskName, usesEssay } from '../../eval/ruler/tasks.js';
import { type MethodSpec, type SampleResult, promptIds, rulerRowSchema, runRuler, writeSummary } from '../../eval/ruler/run.js';
import { methodSpecSchema } from '../../eval/methods.js';
import { dedupeRows, mergeSameMethods } from '../../eval/ruler/merge.js';
import { writeRulerCharts } from '../../eval/ruler/charts.js';
import { type ChartOutput, missingChartRenderer } from '../../report/charts.js';
import { longBenchMarkdown, runLongBench, summarizeLongBench, supportedDatasets } from '../../eval/longbench/run.js';
import { NEEDLE_KINDS, NIAH_SCORERS, type NeedleKind, type NiahScorer } from '../../eval/niah/names.js';
import { findEssayCorpus, loadHotpot, loadSquad, loadWordSources } from '../../eval/ruler/sources.js';

interface RulerFlags extends GridFlags {
  tasks?: string;
  lengths: string;
  samples: number;
  seed: number;
  haystack?: string;
  squad?: string;
  hotpotqa?: string;
}

interface NiahFlags extends GridFlags {
  lengths: string;
  depths: string;
  repeats: number;
  needle: string;
  scorer: string;
  seed: number;
  genLength: number;
  haystack?: string;
}

interface LongBenchFlags extends GridFlags {
  data: string;
  datasets?: string;
  e?: boolean;
  limit?: number;
}

/** Where a benchmark writes: the folder the user named (resumable), or a new one. */

function resultsDir(f: GridFlags, bench: string): string {
  return f.out ?? newResultsDir(bench);
}

/** The end of a benchmark command: the results object (--json) or the markdown table, and where both are. */

/**
 * How charts are drawn: all of them; SVG alone when the native PNG renderer (@resvg/resvg-js) is
 * missing; none when vega is. Checked before a run starts, so a missing optional package is one
 * warning naming it, not a failure after every result was written.
 */
async function chartOutput(): Promise<ChartOutput | null> {
  const { svg, png } = await missingChartRenderer();
  if (svg) process.stderr.write(`warning: no charts: ${svg.message} (the results are in results.json and results.md)\n`);
  else if (png) process.stderr.write(`warning: SVG charts only: ${png.message}\n`);
  return svg ? null : { png: !png };
}

function done(f: GridFlags, out: string, summary: unknown): void {
  if (f.json) process.stdout.write(`${JSON.stringify({ out, ...(summary as object) })}\n`);
  else process.stdout.write(`${readFileSync(join(out, 'results.md'), 'utf8')}\nresults in ${out}\n`);
}

export function evalCommand(program: Command): void {
  const evals = program.command('eval').alias('bench').description('long-context quality evaluations: RULER, needle grid, LongBench (speed benchmarks: npm run bench)');

withGridOptions(evals.command('ruler'), 'ruler')
  .description('RULER (synthetic long-context tasks) for a grid of cache hosts and token filters on identical prompts')
  .option('--tasks <list>', `comma-separated tasks (default: all but qa_1/qa_2, which need --squad / --hotpotqa): ${RULER_TASKS.map((t) => t.name).join(', ')}`)
  .option('--lengths <list>', 'prompt lengths in tokens (prompt + answer fit in each)', '4096')
  .option('--samples <n>', 'samples per task and length', intArg('--samples', { min: 1, max: 100_000 }), 20)
  .option('--seed <n>', 'generator seed (training data uses other seeds)', intArg('--seed', { min: 0 }), 42)
  .option('--haystack <file>', 'public-domain essay corpus for the essay tasks (default: an installed Debian corpus)')
  .option('--squad <file>', 'SQuAD v2 dev JSON for qa_1')
  .option('--hotpotqa <file>', 'HotpotQA dev distractor JSON for qa_2')
  .action(async (f: RulerFlags) => {
    const chartsOut = await chartOutput();
    const all = RULER_TASKS.map((t) => t.name);
    const tasks = (f.tasks ? namesArg('--tasks', f.tasks, all) : all.filter((t) => !t.startsWith('qa_'))) as RulerTaskName[];
    const lengths = listArg('--lengths', LENGTH_RANGE, true)(f.lengths);
    const methods = gridMethods(f);
    const out = resultsDir(f, 'ruler');
    const essay = tasks.some(usesEssay) ? findEssayCorpus(f.haystack) : null;
    const qa = { squad: f.squad ? loadSquad(f.squad) : undefined, hotpotqa: f.hotpotqa ? loadHotpot(f.hotpotqa) : undefined };
    const model = await openModel(f);
    const bar = progressBar(f, 'ruler', 'samples');
    const results = await runRuler(model, {
      tasks, lengths, samples: f.samples, methods, outDir: out, blockLength: f.blockLength, threshold: f.threshold ?? null,
      env: { words: loadWordSources(), essay: essay?.text, essayId: essay?.id, qa, seed: f.seed }, onProgress: bar.onProgress,
    });
    bar.stop();
    await model.dispose();
    const summary = writeSummary(out, {
      model: model.dir, seed: f.seed, samples: f.samples, lengths, tasks, created: new Date().toISOString(),
      source: essay ? `RULER-PD (essay haystack: ${essay.id}; keys: friendly-words)` : 'RULER (synthetic tasks; keys: friendly-words)',
      methods, block_length: f.blockLength, threshold: f.threshold ?? null,
      rope_theta: model.spec.ropeTheta, max_length: model.spec.maxSequenceLength,
    }, results);
    if (chartsOut) await writeRulerCharts(out, methods, summary.rows, chartsOut);
    done(f, out, summary);
  });

withGridOptions(evals.command('niah'), 'niah')
  .description('needle-in-a-haystack grid (context length x depth) for a grid of cache hosts and token filters on identical prompts')
  .option('--lengths <list>', 'context lengths in tokens (prompt + answer)', '1024,2048,4096')
  .option('--depths <list>', 'needle depths in percent', '0,10,20,30,40,50,60,70,80,90,100')
  .option('--repeats <n>', 'prompts per cell (each starts the haystack elsewhere; ruler needles get fresh keys)', intArg('--repeats', { min: 1, max: 1000 }), 1)
  .addOption(new Option('--needle <kind>', 'needle: kamradt (the San Francisco sentence) or ruler (a RULER key/value needle)').choices([...NEEDLE_KINDS]).default('kamradt'))
  .addOption(new Option('--scorer <name>', 'score reported in tables and heatmaps (all are stored per prompt)').choices([...NIAH_SCORERS]).default('keyword'))
  .option('--seed <n>', 'seed for ruler needles', intArg('--seed', { min: 0 }), 42)
  .option('--gen-length <n>', 'tokens to generate', intArg('--gen-length', { min: 1, max: 4096 }), 64)
  .option('--haystack <file>', 'public-domain corpus for the haystack (default: an installed Debian corpus)')
  .action(async (f: NiahFlags) => {
    const chartsOut = await chartOutput();
    const methods = gridMethods(f);
    const lengths = listArg('--lengths', LENGTH_RANGE, true)(f.lengths);
    const depths = listArg('--depths', { min: 0, max: 100 })(f.depths);
    const corpus = findEssayCorpus(f.haystack);
    const out = resultsDir(f, 'niah');
    const model = await openModel(f);
    const codec = model.codec;
    if (!codec) throw new WavefilterError('invalid_input', `${model.dir}: the needle grid needs a tokenizer`, { file: model.dir });
    const { buildNiahGrid } = await import('../../eval/niah/grid.js');
    // the needle scorers use optional packages (stemmer, fastest-levenshtein)
    const { runNiah, writeNiahSummary } = await importOptional(() => importOptional(() => import('../../eval/niah/run.js'), 'stemmer', 'the needle grid'), 'fastest-levenshtein', 'the needle grid');
    const samples = buildNiahGrid({
      haystack: corpus.text, lengths, depths, repeats: f.repeats, needle: f.needle as NeedleKind, genTokens: f.genLength, seed: f.seed, words: loadWordSources(),
      count: (input, answerPrefix) => promptIds(model, { input, answerPrefix }).length, pieceTokens: (t) => codec.encodeText(t).length,
    });
    const bar = progressBar(f, 'niah', 'prompts');
    const results = await runNiah(model, { samples, methods, outDir: out, genLength: f.genLength, blockLength: f.blockLength, threshold: f.threshold ?? null, onProgress: bar.onProgress });
    bar.stop();
    await model.dispose();
    const summary = await writeNiahSummary(out, {
      model: model.dir, haystack: corpus.id, needle: f.needle, lengths, depths, repeats: f.repeats, seed: f.seed, methods: methods.map((m) => m.name),
      gen_length: f.genLength, block_length: f.blockLength, threshold: f.threshold ?? null, rope_theta: model.spec.ropeTheta, created: new Date().toISOString(),
    }, f.scorer as NiahScorer, results, chartsOut);
    done(f, out, summary);
  });

withGridOptions(evals.command('longbench'), 'longbench')
  .description('LongBench v1 (or LongBench-E with --e) over a folder of the official JSONL files, for a grid of cache hosts and token filters on identical prompts')
  .requiredOption('--data <dir>', 'folder with the official <dataset>.jsonl files (or <dataset>_e.jsonl for --e)')
  .option('--datasets <list>', 'datasets to run (default: every dataset with a file in --data)')
  .option('--e', 'LongBench-E: read <dataset>_e.jsonl and report the 0-4k / 4-8k / 8k+ buckets')
  .option('--limit <n>', 'first n records of each dataset', intArg('--limit', { min: 1, max: 10_000_000 }))
  .action(async (f: LongBenchFlags) => {
    const chartsOut = await chartOutput();
    if (!existsSync(f.data)) throw new WavefilterError('file_not_found', `--data: ${f.data} not found`, { file: f.data });
    if (!statSync(f.data).isDirectory()) throw new WavefilterError('not_a_file', `--data: ${f.data} is not a folder`, { file: f.data });
    const datasets = f.datasets
      ? namesArg('--datasets', f.datasets, supportedDatasets())
      : supportedDatasets().filter((d) => existsSync(join(f.data, `${d}${f.e ? '_e' : ''}.jsonl`)));
    if (!datasets.length) throw new WavefilterError('file_not_found', `--data: no LongBench files (${f.e ? '<dataset>_e.jsonl' : '<dataset>.jsonl'}) in ${f.data}`, { file: f.data });
    const methods = gridMethods(f);
    const out = resultsDir(f, 'longbench');
    const model = await openModel(f);
    const bar = progressBar(f, 'longbench', 'records');
    const results = await runLongBench(model, {
      dataDir: f.data, datasets, e: Boolean(f.e), limit: f.limit ?? null, methods, outDir: out, blockLength: f.blockLength, threshold: f.threshold ?? null, onProgress: bar.onProgress,
    });
    bar.stop();
    await model.dispose();
    const s = summarizeLongBench(results, Boolean(f.e));
    const summary = {
      benchmark: 'longbench', model: model.dir, data: f.data, e: Boolean(f.e), datasets, limit: f.limit ?? null, methods, block_length: f.blockLength,
      threshold: f.threshold ?? null, max_length: model.spec.maxSequenceLength, rope_theta: model.spec.ropeTheta, created: new Date().toISOString(), ...s,
      peak_rss_mb: Math.round(process.resourceUsage().maxRSS / 1024),
    };
    writeFileSync(join(out, 'results.json'), `${JSON.stringify(summary, null, 2)}\n`);
    writeFileSync(join(out, 'results.md'), `${longBenchMarkdown(s)}\n`);
    if (chartsOut) await writeRulerCharts(out, methods, s.rows, chartsOut);
    done(f, out, summary);
  });

evals
  .command('merge')
  .description('merge RULER result folders (e.g. one per context length) into one results.json, results.md and charts')
  .requiredOption('--from <dirs>', 'comma-separated result folders (each with results.jsonl and results.json)')
  .requiredOption('--out <dir>', 'folder to write the merged report to')
  .option('--same <list>', 'count method A\'s rows as method B\'s (A=B, comma-separated), e.g. a row name from before a preset changed; refused unless both run the same algorithm (host, filter, budget, every resolved WaveFilter knob)')
  .option('--json', 'print the merged results object to stdout')
  .action(async (f: { from: string; out: string; same?: string; json?: boolean }) => {
    const chartsOut = await chartOutput();
    const dirs = f.from.split(',').map((x) => x.trim()).filter((x) => x);
    const results: SampleResult[] = [];
    const methods = new Map<string, MethodSpec>();
    const sources: Record<string, unknown>[] = [];
    for (const d of dirs) {
      if (!existsSync(join(d, 'results.jsonl')) && existsSync(join(d, 'results.json'))) {
        // a merged report keeps no rows of its own: name its sources, which do
        const from = mergedSources(join(d, 'results.json'));
        if (from) throw new WavefilterError('invalid_input', `${d}: a merged report (eval merge) holds no rows of its own; merge its sources instead: --from ${from.join(',')}`, { file: join(d, 'results.jsonl') });
      }
      for (const file of ['results.jsonl', 'results.json'])
        if (!existsSync(join(d, file))) throw new WavefilterError('file_not_found', `${join(d, file)}: not found (run wavefilter eval ruler --out ${d} first)`, { file: join(d, file) });
      const metaFile = join(d, 'results.json');
      const meta = readUserJson(metaFile, { what: 'results summary', maxBytes: 64 * MiB }) as { methods?: unknown; rows?: unknown } | null;
      const parsed = z.object({ methods: z.array(methodSpecSchema) }).safeParse(meta);
      if (!parsed.success) throw new WavefilterError('invalid_input', `${metaFile}: field ${parsed.error.issues[0].path.join('.') || 'methods'}: ${parsed.error.issues[0].message} (expected the method list bench ruler writes)`, { file: metaFile, field: 'methods' });
      for (const m of parsed.data.methods) methods.set(m.name, m as MethodSpec);
      const { rows: _rows, ...rest } = meta as Record<string, unknown>;
      sources.push({ dir: d, ...rest });
      for (const r of readJsonLines(join(d, 'results.jsonl'), rulerRowSchema, 'strict')) results.push(r as SampleResult);
    }
    const { rows: unique, duplicates } = dedupeRows(results);
    if (duplicates > 0) process.stderr.write(`${duplicates} row${duplicates === 1 ? '' : 's'} in more than one folder (the same method on the same prompt) counted once\n`);
    const merged = f.same ? mergeSameMethods(methods, unique, f.same.split(',').map((x) => x.trim()).filter((x) => x)) : unique;
    mkdirSync(f.out, { recursive: true });
    const summary = writeSummary(f.out, { merged_from: sources, methods: [...methods.values()], ...(f.same ? { same: f.same } : {}) }, merged);
    if (chartsOut) await writeRulerCharts(f.out, [...methods.values()], summary.rows, chartsOut);
    if (f.json) process.stdout.write(`${JSON.stringify(summary)}\n`);
    else process.stdout.write(`${readFileSync(join(f.out, 'results.md'), 'utf8')}`);
  });
}

/** The source folders a merged report's results.json names (merged_from[].dir), or null when it is not one. */
function mergedSources(file: string): string[] | null {
  const meta = readUserJson(file, { what: 'results summary', maxBytes: 64 * MiB });
  const parsed = z.object({ merged_from: z.array(z.object({ dir: z.string() })).min(1) }).safeParse(meta);
  return parsed.success ? parsed.data.merged_from.map((x) => x.dir) : null;
}
