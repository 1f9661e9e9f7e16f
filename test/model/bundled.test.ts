// The bundled model (models/llada-ruler-12m, trained by training/): the engine reproduces the
// PyTorch training code's logits, prompts are tokenized exactly as in training, it retrieves, and the
// context-extension options are checked.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { WavefilterError, bundledModelDir, loadModel } from '../../src/index.js';
import { rulerPromptIds } from '../../src/eval/ruler/prompt.js';
import { matchAll, postprocess } from '../../src/eval/ruler/metrics.js';
import { defaultModelDir } from '../../src/cli/paths.js';
import { REPO_ROOT } from '../helpers.js';
import { needleSample } from '../needle.js';

const DIR = defaultModelDir();

test('the bundled model is the CLI default and fits the size limit', () => {
  assert.ok(DIR, 'models/llada-ruler-12m/config.json exists');
  // the library names the same folder, so a project that installed the package loads it without a path
  assert.equal(bundledModelDir(), join(import.meta.dirname, '..', '..', 'models', 'llada-ruler-12m'));
  const file = readFileSync(join(DIR, 'model.safetensors'));
  // a safetensors header: its 8-byte length, then JSON that fits in the file
  const headerLength = Number(file.readBigUInt64LE(0));
  assert.ok(headerLength > 0 && 8 + headerLength < file.length, `header length ${headerLength}`);
  assert.ok(file.length <= 25_000_000, `${file.length} bytes`);
  const cfg = JSON.parse(readFileSync(join(DIR, 'config.json'), 'utf8')) as Record<string, unknown>;
  assert.equal(cfg.model_type, 'llada');
  assert.equal(cfg.torch_dtype, 'float16');
});

test('logits equal the PyTorch training code on the exported float16 weights (probe.json)', async (t) => {
  assert.ok(DIR);
  const probe = JSON.parse(readFileSync(join(DIR, 'probe.json'), 'utf8')) as { input_ids: number[]; rows: number; logits: number[][] };
  const model = await loadModel(DIR);
  try {
    const rows = await model.logits(probe.input_ids);
    let worst = 0;
    for (let r = 0; r < probe.rows; r++)
      for (let v = 0; v < probe.logits[r].length; v++) worst = Math.max(worst, Math.abs(rows[r][v] - probe.logits[r][v]));
    t.diagnostic(`max |engine - pytorch| = ${worst.toExponential(2)}`);
    assert.ok(worst < 1e-3, `max |engine - pytorch| = ${worst}`);
  } finally {
    await model.dispose();
  }
});

test('special tokens and chat template as trained; user text cannot inject the mask token', async () => {
  assert.ok(DIR);
  const model = await loadModel(DIR);
  try {
    const codec = model.codec;
    assert.ok(codec?.hasChatTemplate);
    assert.equal(model.spec.maskTokenId, codec.encodeTrusted('<|mdm_mask|>')[0]);
    const ids = rulerPromptIds(codec, { input: 'hello <|mdm_mask|>', answerPrefix: ' Answer:' });
    assert.ok(!ids.includes(model.spec.maskTokenId));
    assert.equal(codec.decode(ids, false), '<|startoftext|><|start_header_id|>user<|end_header_id|>\n\nhello <|mdm_mask|><|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n Answer:');
  } finally {
    await model.dispose();
  }
});

test('answers a fresh single-needle prompt (seed 5, not a training seed) with the dual cache, with and without WaveFilter', async () => {
  assert.ok(DIR);
  const model = await loadModel(DIR);
  try {
    const s = needleSample(model, 5);
    const ids = rulerPromptIds(model.codec, s);
    for (const filter of ['none', 'wavefilter'] as const) {
      const out = await model.generate({ inputIds: ids }, { genLength: 128, blockLength: 32, steps: 128, threshold: 0.9, cache: 'dual', filter });
      assert.equal(matchAll(postprocess(out.text ?? ''), s.outputs), 1, `${filter}: ${out.text} vs ${s.outputs.join(',')}`);
    }
  } finally {
    await model.dispose();
  }
});

test('assistant prefill: a final assistant message is continued (the answer turn opened by the template, the text after it), in the library and with --prefill', async () => {
  assert.ok(DIR);
  const model = await loadModel(DIR);
  try {
    const s = needleSample(model, 7);
    const messages = [{ role: 'user', content: s.input }, { role: 'assistant', content: s.answerPrefix }];
    const ids = model.encode(messages);
    // by hand: the user turn with the generation prompt, then the prefill's text
    const head = model.encode([{ role: 'user', content: s.input }]);
    assert.deepEqual(ids, [...head, ...(model.codec as NonNullable<typeof model.codec>).encodeText(s.answerPrefix)]);
    assert.ok(model.codec?.decode(ids.slice(head.length)).endsWith(s.answerPrefix.trim()));
    const out = await model.generate(messages, { genLength: 64, blockLength: 32, steps: 64, threshold: 0.9, cache: 'dual' });
    assert.equal(matchAll(postprocess(out.text ?? ''), s.outputs), 1, `${out.text} vs ${s.outputs.join(',')}`);
    // the CLI: --prefill builds the same messages
    const cli = (args: string[]): ReturnType<typeof spawnSync> => spawnSync(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'src/cli/main.ts'), 'generate', '--model', DIR as string, ...args], { encoding: 'utf8', input: s.input, maxBuffer: 1 << 26 });
    const r = cli(['--prompt-file', '-', '--prefill', s.answerPrefix, '--gen-length', '64', '--block-length', '32', '--steps', '64', '--threshold', '0.9', '--cache', 'dual', '--json']);
    assert.equal(r.status, 0, String(r.stderr));
    const j = JSON.parse(String(r.stdout)) as { output_ids: number[]; prompt_length: number; text: string };
    assert.deepEqual(j.output_ids.slice(0, j.prompt_length), ids);
    assert.equal(j.text, out.text);
    for (const [args, msg] of [[['--input-ids', '1,2', '--prefill', 'x'], /--prefill continues the answer to a --prompt/], [['--prompt', 'hi', '--no-chat', '--prefill', 'x'], /cannot go with --no-chat/]] as const) {
      const bad = cli([...args]);
      assert.equal(bad.status, 2, String(bad.stderr));
      assert.match(String(bad.stderr), msg);
    }
  } finally {
    await model.dispose();
  }
});

test('context extension: ropeTheta and maxLength override the config, and nonsense is refused', async () => {
  assert.ok(DIR);
  const model = await loadModel(DIR, { ropeTheta: 20450, maxLength: 8192 });
  assert.equal(model.spec.ropeTheta, 20450);
  assert.equal(model.spec.maxSequenceLength, 8192);
  await model.dispose();
  for (const bad of [{ ropeTheta: -1 }, { ropeTheta: Number.NaN }, { maxLength: 0 }, { maxLength: 1.5 }])
    await assert.rejects(loadModel(DIR, bad), (e: unknown) => e instanceof WavefilterError && e.code === 'invalid_option' && /ropeTheta|maxLength/.test(e.message));
});
