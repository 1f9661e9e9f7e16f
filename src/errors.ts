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
  | 'aborted';

export type ErrorDetails = Record<string, string | number | boolean | null | undefined | readonly (string | number)[]>;

/** The one error class the engine throws on purpose. */
export class WavefilterError extends Error {
  readonly code: ErrorCode;
  readonly details: ErrorDetails;
  constructor(code: ErrorCode, message: string, details: ErrorDetails = {}) {
    super(message);
    this.name = 'WavefilterError';
    this.code = code;
    this.details = details;
  }
  /** A plain object, safe to JSON.stringify or post to a worker. */
  toJSON(): { code: ErrorCode; message: string; details: ErrorDetails } {
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
