// Hostile inputs, one test per class of issue 10: files that are not regular files, oversized and
// compressed-bomb input, the safetensors reference verdicts, config dimensions, strict flags,
// forged results rows, templates and tokenizers that never finish.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { z } from 'zod';
import { TextCodec, WavefilterError, readModelSpec, readSafetensorsHeader, renderTemplate } from '../../src/index.js';
import { readUserFile, readUserMaybeGzip } from '../../src/files.js';
import { parseBudgetArg, parseDecimal, parseInt10 } from '../../src/cli/args.js';
import { ResultsFile, inputHash, newResultsDir } from '../../src/eval/results-file.js';
import { loadLongBench } from '../../src/eval/longbench/datasets.js';
import { scoreRecord } from '../../src/eval/longbench/datasets.js';
import { generateRuler } from '../../src/eval/ruler/generate.js';
import { loadWordSources } from '../../src/eval/ruler/sources.js';
import { LLADA_TINY } from '../helpers.js';

const tmp = (p: string) => mkdtempSync(join(tmpdir(), p));
const code = (c: string) => (e: unknown) => e instanceof WavefilterError && e.code === c;

test('a FIFO, /dev/zero and a directory are typed errors, never a hang', () => {
  const dir = tmp('wf-files-');
  const fifo = join(dir, 'fifo');
  execFileSync('mkfifo', [fifo]);
  const t0 = performance.now();
  assert.throws(() => readUserFile(fifo, { what: 'config', maxBytes: 100 }), (e: unknown) => code('not_a_file')(e) && /a FIFO/.test((e as Error).message));
  assert.throws(() => readUserFile('/dev/zero', { what: 'config', maxBytes: 100 }), (e: unknown) => code('not_a_file')(e) && /character device/.test((e as Error).message));
  assert.throws(() => readUserFile(dir, { what: 'config', maxBytes: 100 }), code('not_a_file'));
  assert.ok(performance.now() - t0 < 1000);
  // the same through the loaders: a FIFO as config.json, as a safetensors file
  execFileSync('mkfifo', [join(dir, 'config.json')]);
  assert.throws(() => readModelSpec(dir), code('not_a_file'));
  assert.throws(() => readSafetensorsHeader(fifo), code('not_a_file'));
});

test('oversized files and gzip bombs stop at their caps', () => {
  const dir = tmp('wf-files-');
  writeFileSync(join(dir, 'big.txt'), Buffer.alloc(2048, 97));
  assert.throws(() => readUserFile(join(dir, 'big.txt'), { what: 'corpus', maxBytes: 1024 }), code('file_too_large'));
  // 64 MB of zeros compress to ~64 KB: the decompressed cap stops it
  writeFileSync(join(dir, 'bomb.gz'), gzipSync(Buffer.alloc(64 * 1024 * 1024)));
  assert.throws(() => readUserMaybeGzip(join(dir, 'bomb.gz'), { what: 'corpus', maxBytes: 1 << 20, maxTextBytes: 1 << 20 }), (e: unknown) => code('file_too_large')(e) && /decompresses to more than/.test((e as Error).message));
  writeFileSync(join(dir, 'bad.gz'), Buffer.from([0x1f, 0x8b, 1, 2, 3]));
  assert.throws(() => readUserMaybeGzip(join(dir, 'bad.gz'), { what: 'corpus', maxBytes: 1 << 20, maxTextBytes: 1 << 20 }), code('invalid_input'));
  writeFileSync(join(dir, 'latin1.txt'), Buffer.from([0x66, 0xe9, 0x65]));
  assert.throws(() => readUserMaybeGzip(join(dir, 'latin1.txt'), { what: 'corpus', maxBytes: 100, maxTextBytes: 100 }), /not valid UTF-8/);
});

// safetensors: the reference crate's verdicts (../shared/docs/hostile-inputs-and-limits.md §1.2)
// on files built here, plus the stricter rules (§1.3). header: raw JSON text; data: bytes after it.
function st(header: string | Buffer, data = 0, lengthField?: bigint): string {
  const h = typeof header === 'string' ? Buffer.from(header, 'utf8') : header;
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(lengthField ?? BigInt(h.length));
  const p = join(tmp('wf-st-'), 'model.safetensors');
  writeFileSync(p, Buffer.concat([len, h, Buffer.alloc(data)]));
  return p;
}
const T = (dtype: string, shape: string, offs: string, extra = '') => `{"dtype":"${dtype}","shape":${shape},"data_offsets":${offs}${extra}}`;
const A16 = T('F32', '[4]', '[0,16]');

const ACCEPTED: Array<[string, string]> = [
  ['valid baseline', st(`{"a":${A16}}`, 16)],
  ['trailing spaces', st(`{"a":${A16}}    `, 16)],
  ['leading tab and newline', st(`\t\n{"a":${A16}}`, 16)],
  ['{} with no data', st('{}', 0)],
  ['unknown field in an entry', st(`{"a":${T('F32', '[4]', '[0,16]', ',"evil":1')}}`, 16)],
  ['__metadata__ null', st(`{"__metadata__":null,"a":${A16}}`, 16)],
  ['format metadata', st(`{"__metadata__":{"format":"pt"},"a":${A16}}`, 16)],
  ['empty tensor name', st(`{"":${A16}}`, 16)],
  ['scalar shape []', st(`{"a":${T('F32', '[]', '[0,4]')}}`, 4)],
  ['two empty tensors at [0,0]', st(`{"a":${T('F32', '[0]', '[0,0]')},"b":${T('F16', '[2,0]', '[0,0]')}}`, 0)],
  ['misaligned F32 after a U8', st(`{"a":${T('U8', '[2]', '[0,2]')},"b":${T('F32', '[1]', '[2,6]')}}`, 6)],
  ['name with NUL', st(`{"a\\u0000b":${A16}}`, 16)],
];
const REJECTED: Array<[string, string, string]> = [
  ['NUL padding after }', st(Buffer.concat([Buffer.from(`{"a":${A16}}`), Buffer.alloc(3)]), 16), 'R5'],
  ['UTF-8 BOM', st(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(`{"a":${A16}}`)]), 16), 'R5'],
  ['n = 0', st('', 0), 'R5'],
  ['missing shape', st(`{"a":{"dtype":"F32","data_offsets":[0,16]}}`, 16), 'R5'],
  ['dim -2', st(`{"a":${T('F32', '[-2]', '[0,16]')}}`, 16), 'R5'],
  ['dim 2.0', st(`{"a":${T('F32', '[4.0]', '[0,16]')}}`, 16), 'R5'],
  ['offset 1.6e1', st(`{"a":${T('F32', '[4]', '[0,1.6e1]')}}`, 16), 'R5'],
  ['three data_offsets', st(`{"a":${T('F32', '[4]', '[0,16,16]')}}`, 16), 'R5'],
  ['dtype i32', st(`{"a":${T('i32', '[4]', '[0,16]')}}`, 16), 'R6'],
  ['dtype F128', st(`{"a":${T('F128', '[4]', '[0,16]')}}`, 16), 'R6'],
  ['metadata value 1', st(`{"__metadata__":{"x":1},"a":${A16}}`, 16), 'R5'],
  ['trailing comma', st(`{"a":${A16},}`, 16), 'R5'],
  ['lone surrogate in a name', st(`{"\\ud800":${A16}}`, 16), 'R5'],
  ['nesting 200 deep', st(`{"a":${T('F32', '[4]', '[0,16]', `,"x":${'['.repeat(200)}${']'.repeat(200)}`)}}`, 16), 'R5'],
  ['dim beyond 2^53', st(`{"a":${T('F32', '[18446744073709551617]', '[0,16]')}}`, 16), 'R5'],
  ['header is []', st('[]', 0), 'R5'],
  ['entry is a string', st('{"a":"x"}', 0), 'R5'],
  ['__metadata__ twice', st(`{"__metadata__":{},"__metadata__":{},"a":${A16}}`, 16), 'R5'],
  ['dims as strings', st(`{"a":${T('F32', '["4"]', '[0,16]')}}`, 16), 'R5'],
  ['duplicate tensor name (stricter than the crate)', st(`{"a":${T('F32', '[4]', '[16,32]')},"a":${A16}}`, 16), 'R5'],
  ['offsets [16,0]', st(`{"a":${T('F32', '[0]', '[16,0]')}}`, 16), 'R7'],
  ['a gap', st(`{"a":${T('F32', '[2]', '[0,8]')},"b":${T('F32', '[1]', '[12,16]')}}`, 16), 'R7'],
  ['an overlap', st(`{"a":${A16},"b":${T('F32', '[2]', '[8,16]')}}`, 16), 'R7'],
  ['first tensor at 4', st(`{"a":${T('F32', '[3]', '[4,16]')}}`, 16), 'R7'],
  ['two tensors on one range', st(`{"a":${A16},"b":${A16}}`, 16), 'R7'],
  ['{} plus 8 bytes', st('{}', 8), 'R11'],
  ['trailing PK zip bytes (polyglot)', (() => { const p = st(`{"a":${A16}}`, 16); writeFileSync(p, Buffer.concat([readFileSync(p), Buffer.from('PK\x03\x04')])); return p; })(), 'R11'],
  ['data shorter than offsets', st(`{"a":${A16}}`, 8), 'R11'],
  ['n = 100,000,001', st('{}', 0, 100_000_001n), 'R2'],
  ['n = u64 max', st('{}', 0, (1n << 64n) - 1n), 'R2'],
  ['n past the file', st('{}', 0, 1000n), 'R3'],
  ['F4 shape [3]', st(`{"a":${T('F4', '[3]', '[0,2]')}}`, 2), 'R9'],
  ['shape [2^32,2^32] (no overflow)', st(`{"a":${T('F32', '[4294967296,4294967296]', '[0,16]')}}`, 16), 'R10'],
  ['shape needs more bytes', st(`{"a":${T('F32', '[5]', '[0,16]')}}`, 16), 'R10'],
];

test('safetensors: the reference crate accepts these edge files, and so do we', () => {
  for (const [name, p] of ACCEPTED) assert.doesNotThrow(() => readSafetensorsHeader(p), name);
});

test('safetensors: the reference crate rejects these files; we reject each naming the rule', () => {
  const tiny = join(tmp('wf-st-'), 'x');
  writeFileSync(tiny, Buffer.from([1, 2, 3]));
  assert.throws(() => readSafetensorsHeader(tiny), (e: unknown) => code('invalid_safetensors')(e) && /\(R1\)/.test((e as Error).message));
  for (const [name, p, rule] of REJECTED)
    assert.throws(() => readSafetensorsHeader(p), (e: unknown) => {
      assert.ok(e instanceof WavefilterError && e.code === 'invalid_safetensors', `${name}: ${String(e)}`);
      assert.ok(e.message.includes(`(${rule})`), `${name}: expected rule ${rule}, got ${e.message}`);
      return true;
    }, name);
});

test('config dimensions are bounded before anything is sized from them', () => {
  const dir = tmp('wf-cfg-');
  const cfg = JSON.parse(readFileSync(join(LLADA_TINY, 'config.json'), 'utf8')) as Record<string, unknown>;
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...cfg, n_layers: 1e9 }));
  const t0 = performance.now();
  assert.throws(() => readModelSpec(dir), (e: unknown) => code('invalid_config')(e) && /n_layers: expected a positive integer up to 1024/.test((e as Error).message));
  assert.ok(performance.now() - t0 < 100);
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...cfg, vocab_size: 2 ** 40, embedding_size: undefined }));
  assert.throws(() => readModelSpec(dir), code('invalid_config'));
});

test('numbers on the command line are strict and ranged', () => {
  for (const v of ['0x1', '1e999', ' 3', '3 ', '', 'NaN', 'Infinity', '1_000', '+-1']) assert.throws(() => parseDecimal('--threshold', v, { min: 0, max: 1 }), code('invalid_option'), v);
  assert.equal(parseDecimal('--threshold', '0.9', { min: 0, minExclusive: true, max: 1 }), 0.9);
  assert.throws(() => parseDecimal('--threshold', '0', { min: 0, minExclusive: true, max: 1 }), /expected a decimal number > 0 and <= 1/);
  assert.throws(() => parseInt10('--steps', '12abc'), code('invalid_option'));
  assert.throws(() => parseInt10('--steps', '99999999999999999'), code('invalid_option'));
  assert.throws(() => parseBudgetArg('--budget', '1.5'), /an integer token count above 1/);
  assert.equal(parseBudgetArg('--budget', '512'), 512);
  assert.equal(parseBudgetArg('--budget', '0.25'), 0.25);
});

test('results rows are trusted only when they validate and carry the hash of identical work', () => {
  const dir = tmp('wf-res-');
  const schema = z.object({ k: z.string(), score: z.number().min(0).max(1), input_hash: z.string() }).strict();
  type Row = z.infer<typeof schema>;
  const h1 = inputHash({ ids: [1, 2, 3], method: 'dual' });
  const h2 = inputHash({ ids: [1, 2, 4], method: 'dual' });
  assert.notEqual(h1, h2);
  writeFileSync(join(dir, 'results.jsonl'), [
    JSON.stringify({ k: 'a', score: 1, input_hash: h1 }),
    JSON.stringify({ k: 'b', score: 7, input_hash: h1 }), // forged score
    JSON.stringify({ k: 'c', score: 1, input_hash: h1, extra: true }), // unknown field
    '{"k": "d", "sco', // cut by a crash
  ].join('\n'));
  const f = new ResultsFile<Row>(dir, (r) => r.k, schema);
  assert.equal(f.dropped, 3);
  assert.ok(f.get('a', h1));
  assert.equal(f.get('a', h2), undefined, 'another prompt: not trusted');
  assert.equal(f.get('b', h1), undefined);
  f.append({ k: 'a', score: 0, input_hash: h2 });
  const lines = readFileSync(join(dir, 'results.jsonl'), 'utf8').trim().split('\n');
  assert.deepEqual(lines.map((l) => JSON.parse(l) as Row), [{ k: 'a', score: 0, input_hash: h2 }], 'one row per key; invalid lines gone');
  const root = tmp('wf-out-');
  const a = newResultsDir('ruler', root);
  const b = newResultsDir('ruler', root);
  assert.notEqual(a, b, 'never the same folder twice');
  mkdirSync(join(root, 'x'));
});

test('LongBench: a numeric gold answer scores like its str() (passage_count), bad records name file:line:field', () => {
  const dir = tmp('wf-lb-');
  writeFileSync(join(dir, 'passage_count.jsonl'), `${JSON.stringify({ input: '', context: 'Paragraph 1: x', answers: [7], length: 10, all_classes: null, _id: 'p' })}\n`);
  const [rec] = loadLongBench(dir, 'passage_count');
  assert.deepEqual(rec.answers, ['7']);
  assert.equal(scoreRecord('passage_count', 'There are 7 unique paragraphs.', rec), 1);
  assert.equal(scoreRecord('passage_count', 'There are 8.', rec), 0);
  writeFileSync(join(dir, 'trec.jsonl'), '{"input": "q", "context": "c", "answers": [{"x": 1}]}\n');
  assert.throws(() => loadLongBench(dir, 'trec'), /trec\.jsonl:1: field answers\.0:/);
});

test('RULER CWE draws new words for every sample', () => {
  const env = { words: loadWordSources(), count: (input: string, prefix: string) => Math.ceil((input.length + prefix.length) / 4) };
  const s = generateRuler('cwe', 2048, 3, env);
  assert.equal(new Set(s.map((x) => x.outputs.join(','))).size, 3);
  assert.equal(new Set(s.map((x) => x.input)).size, 3);
});

test('templates: range(10**9) is refused by the range cap; endless loops stop at the deadline; the process lives on', () => {
  const t0 = performance.now();
  assert.throws(() => renderTemplate('{% for i in range(10**9) %}x{% endfor %}', {}, 2000), (e: unknown) => code('template_error')(e) && /Range too big/.test((e as Error).message));
  assert.throws(() => renderTemplate('{% for a in range(99999) %}{% for b in range(99999) %}{% endfor %}{% endfor %}', {}, 300), code('template_timeout'));
  assert.throws(() => renderTemplate("{% set s = 'x' %}{% for i in range(40) %}{% set s = s ~ s %}{% endfor %}{{ s }}", {}, 2000), (e: unknown) => code('template_error')(e) || code('template_timeout')(e));
  assert.throws(() => renderTemplate("{{ raise_exception('bad role') }}", {}, 2000), /bad role/);
  assert.equal(renderTemplate('{{ range(3) | join(",") }}', {}, 2000), '0,1,2');
  assert.ok(performance.now() - t0 < 15_000);
});

test('a tokenizer with a catastrophic pre-tokenizer regex is stopped at its deadline', () => {
  const dir = tmp('wf-tok-');
  const tok = JSON.parse(readFileSync(join(LLADA_TINY, 'tokenizer.json'), 'utf8')) as Record<string, unknown>;
  tok.pre_tokenizer = { type: 'Sequence', pretokenizers: [{ type: 'Split', pattern: { Regex: '(a+)+$' }, behavior: 'Isolated', invert: false }, tok.pre_tokenizer] };
  writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(tok));
  const c = TextCodec.load(dir, { tokenizeBaseMs: 500, tokenizeMsPerChar: 0 });
  assert.ok(c);
  assert.deepEqual(c.encodeText('ab'), c.encodeText('ab'), 'ordinary text still encodes');
  const t0 = performance.now();
  assert.throws(() => c.encodeText(`${'a'.repeat(40)}!`), code('tokenizer_timeout'));
  assert.ok(performance.now() - t0 < 3000);
  assert.ok(c.encodeText('ab').length > 0, 'the worker is replaced after a timeout');
  c.dispose();
});
