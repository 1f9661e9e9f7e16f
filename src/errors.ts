/**
 * Errors as data: every failure the engine reports carries a stable code and the numbers that
 * explain it, so the CLI can print it, a server can map it to a status, and a worker can
 * serialise it without losing fields.
 */
export type ErrorCode =
  | 'file_not_found'
  | 'not_a_file'
  | 'file_too_large'
  | 'file_unreadable'
  | 'argument_too_long'
  | 'invalid_safetensors'
  | 'invalid_config'
  | 'unsupported_model'
  | 'missing_tensor'
  | 'tensor_shape_mismatch'
  | 'unsupported_dtype'
  | 'invalid_tokenizer'
  | 'template_error'
  | 'template_timeout'
  | 'prompt_too_long'
  | 'tokenizer_timeout'
  | 'results_conflict'
  | 'missing_dependency'
  | 'invalid_option'
  | 'invalid_input'
  | 'runtime_error'
  | 'device_unavailable'
  | 'out_of_memory'
  | 'aborted';

type Detail = string | number | boolean | null | undefined | readonly (string | number)[];

/**
 * The fields each code's details carry: the ones named here are always present (a client can rely
 * on `details.file` of a file error or `details.option` of an option error); a site may add more.
 */
export interface ErrorDetailsByCode {
  file_not_found: { readonly file: string };
  not_a_file: { readonly file: string };
  file_too_large: { readonly file: string; readonly limit: number; readonly size?: number };
  file_unreadable: { readonly file: string };
  argument_too_long: { readonly option: string; readonly limit: number };
  invalid_safetensors: { readonly file: string };
  invalid_config: { readonly file: string };
  unsupported_model: { readonly file: string };
  missing_tensor: { readonly tensor: string };
  tensor_shape_mismatch: { readonly tensor: string; readonly expected: readonly number[]; readonly found: readonly number[] };
  unsupported_dtype: { readonly tensor: string; readonly dtype: string };
  invalid_tokenizer: { readonly file: string };
  template_error: { readonly file?: string };
  template_timeout: { readonly limit_ms: number };
  prompt_too_long: { readonly limit: number; readonly tokens?: number };
  tokenizer_timeout: { readonly limit_ms: number };
  results_conflict: { readonly file: string };
  missing_dependency: { readonly package: string };
  invalid_option: { readonly option: string; readonly expected?: string; readonly found?: string };
  invalid_input: { readonly field?: string; readonly file?: string; readonly index?: number };
  runtime_error: { readonly what?: string };
  device_unavailable: { readonly device: string };
  out_of_memory: { readonly needed_bytes: number; readonly available_bytes: number; readonly where: string };
  aborted: Record<never, never>;
}

export type ErrorDetails<C extends ErrorCode = ErrorCode> = ErrorDetailsByCode[C] & { readonly [key: string]: Detail };

type DetailsArg<C extends ErrorCode> = Record<never, never> extends ErrorDetailsByCode[C] ? [details?: ErrorDetails<C>] : [details: ErrorDetails<C>];

/** The one error class the engine throws on purpose. */
export class WavefilterError<C extends ErrorCode = ErrorCode> extends Error {
  readonly code: C;
  readonly details: ErrorDetails<C>;
  constructor(code: C, message: string, ...details: DetailsArg<C>) {
    super(message);
    this.name = 'WavefilterError';
    this.code = code;
    this.details = (details[0] ?? {}) as ErrorDetails<C>;
  }
  /** A plain object, safe to JSON.stringify or post to a worker. */
  toJSON(): { code: C; message: string; details: ErrorDetails<C> } {
    return { code: this.code, message: this.message, details: this.details };
  }
}

/** Throws an `invalid_option` error naming the option, what was expected and what was found. */
export function invalidOption(option: string, expected: string, found: unknown): never {
  throw new WavefilterError('invalid_option', `option ${option}: expected ${expected}, found ${JSON.stringify(found)}`, {
    option,
    expected,
    found: String(found),
  });
}
