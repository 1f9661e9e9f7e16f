#!/usr/bin/env node
/**
 * The `wavefilter` command. Results go to stdout (one JSON object with --json), progress and
 * errors to stderr, so `--json | jq` just works.
 */
import { Command } from 'commander';
import { WavefilterError } from '../errors.js';
import { checkArgv } from './input.js';
import { generateCommand } from './commands/generate.js';
import { logitsCommand } from './commands/logits.js';
import { demoCommand } from './commands/demo.js';
import { evalCommand } from './commands/eval.js';
import { inspectCommand } from './commands/inspect.js';
import { serveCommand } from './commands/serve.js';


/** Codes that mean the command line itself is wrong: exit 2 (sysexits' usage class), else 1. */
const USAGE_CODES: ReadonlySet<string> = new Set(['invalid_option', 'argument_too_long']);

/**
 * Every failure ends here as one line `error [code]: message` on stderr: the engine's typed errors
 * with their code, commander's parse errors as invalid_option, anything else (a bug) as
 * internal_error with its message (the stack only with WAVEFILTER_DEBUG=1).
 */
function fail(e: unknown): never {
  if (e instanceof WavefilterError) {
    process.stderr.write(`error [${e.code}]: ${e.message}\n`);
    process.exit(USAGE_CODES.has(e.code) ? 2 : 1);
  }
  const err = e as { code?: string; message?: string; stack?: string };
  if (typeof err?.code === 'string' && err.code.startsWith('commander.')) {
    if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') process.exit(0);
    process.stderr.write(`error [invalid_option]: ${String(err.message ?? '').replace(/^error: /, '')}\n`);
    process.exit(2);
  }
  process.stderr.write(`error [internal_error]: ${err?.message ?? String(e)}\n`);
  if (process.env.WAVEFILTER_DEBUG === '1' && err?.stack) process.stderr.write(`${err.stack}\n`);
  process.exit(1);
}

const program = new Command();
program
  .name('wavefilter')
  .description('Diffusion language models (LLaDA, Dream) on ONNX Runtime, with Fast-dLLM caches and WaveFilter')
  .version('0.1.0')
  .exitOverride()
  // commander's own error lines are replaced by fail()'s coded line; help and usage still print
  .configureOutput({ writeErr: (s) => (s.startsWith('error:') ? undefined : process.stderr.write(s)) });

generateCommand(program);
logitsCommand(program);
demoCommand(program);
evalCommand(program);
inspectCommand(program);
serveCommand(program);

try {
  checkArgv(process.argv.slice(2));
} catch (e) {
  fail(e);
}
program.parseAsync(process.argv).catch(fail);
