/**
 * Where long inputs come from on the command line. onnxruntime-node segfaults while a session is
 * created when the process has a command-line argument over ~25-30 KB (a native stack overflow;
 * reproduced with onnxruntime-node alone), so long-context prompts never travel in argv: they come
 * from `--prompt-file FILE` or stdin (`--prompt -`), and argv is checked before anything loads.
 */
import { readSync } from 'node:fs';
import { WavefilterError } from '../errors.js';
import { MiB, decodeUtf8, readUserText } from '../files.js';

/** Total bytes of command-line arguments accepted (well below the ~25 KB that crashes ORT). */
export const MAX_ARGV_BYTES = 16 * 1024;

/** Largest prompt file or stdin accepted; the model's character cap then applies (engine.ts). */
export const MAX_PROMPT_FILE_BYTES = 64 * MiB;

/** Refuses an oversized command line before any module does work with it. */
export function checkArgv(argv: readonly string[]): void {
  const total = argv.reduce((a, s) => a + Buffer.byteLength(s) + 1, 0);
  if (total <= MAX_ARGV_BYTES) return;
  const longest = argv.reduce((a, s) => (s.length > a.length ? s : a), '');
  const flag = argv[argv.indexOf(longest) - 1] ?? '';
  throw new WavefilterError('argument_too_long', `the command line is ${total} bytes (over ${MAX_ARGV_BYTES}); its longest argument${flag.startsWith('--') ? ` (after ${flag})` : ''} is ${Buffer.byteLength(longest)} bytes. Pass long prompts with --prompt-file FILE or on stdin with --prompt - (and long id lists with --input-ids-file FILE)`, {
    option: flag.startsWith('--') ? flag : 'argv', bytes: total, limit: MAX_ARGV_BYTES,
  });
}

/** Reads stdin to the end, at most `max` bytes (stdin may be a pipe, a file or a terminal). */
function readStdin(max: number): string {
  const chunks: Buffer[] = [];
  let total = 0;
  const buf = Buffer.alloc(1 << 16);
  const nap = new Int32Array(new SharedArrayBuffer(4));
  for (;;) {
    let n: number;
    try {
      n = readSync(0, buf, 0, buf.length, null);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EAGAIN') {
        Atomics.wait(nap, 0, 0, 10); // a non-blocking pipe with no data yet
        continue;
      }
      if (code === 'EOF') break;
      throw new WavefilterError('file_unreadable', `stdin: cannot read (${code ?? (e as Error).message})`, { file: '-' });
    }
    if (n === 0) break;
    total += n;
    if (total > max) throw new WavefilterError('file_too_large', `stdin: more than ${max} bytes`, { file: '-', limit: max });
    chunks.push(Buffer.from(buf.subarray(0, n)));
  }
  return decodeUtf8(Buffer.concat(chunks), 'stdin', 'prompt');
}

/**
 * The prompt text of `--prompt` / `--prompt-file`: `--prompt -` reads stdin; at most one of the two.
 * Returns undefined when neither was given.
 */
export function promptText(prompt: string | undefined, promptFile: string | undefined): string | undefined {
  if (prompt !== undefined && promptFile !== undefined)
    throw new WavefilterError('invalid_option', 'give either --prompt or --prompt-file, not both', { option: 'prompt-file' });
  if (promptFile !== undefined) return promptFile === '-' ? readStdin(MAX_PROMPT_FILE_BYTES) : readUserText(promptFile, { what: 'prompt file', maxBytes: MAX_PROMPT_FILE_BYTES });
  if (prompt === '-') return readStdin(MAX_PROMPT_FILE_BYTES);
  return prompt;
}

/** Token ids from a file or stdin (`-`): comma, space or newline separated. */
export function idsFromFile(path: string): number[] {
  const text = path === '-' ? readStdin(MAX_PROMPT_FILE_BYTES) : readUserText(path, { what: 'input ids file', maxBytes: MAX_PROMPT_FILE_BYTES });
  const parts = text.split(/[\s,]+/).filter((p) => p.length > 0);
  if (parts.length === 0) throw new WavefilterError('invalid_option', `--input-ids-file: ${path} holds no token ids`, { option: 'input-ids-file' });
  return parts.map((p, i) => {
    if (!/^\d{1,15}$/.test(p)) throw new WavefilterError('invalid_option', `--input-ids-file: ${path}: item ${i + 1} is ${JSON.stringify(p.slice(0, 40))}, not a non-negative integer token id`, { option: 'input-ids-file', index: i });
    return Number(p);
  });
}
