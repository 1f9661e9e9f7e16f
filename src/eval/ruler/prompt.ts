/**
 * How a RULER sample becomes token ids: the chat template (when the tokenizer has one) around the
 * task input, then the answer prefix, all user text encoded as text. One function, used by the
 * benchmark runner and by the training-data generator (training/gen-tasks.ts), so the bundled model
 * is trained on exactly the token sequences it is evaluated on.
 */
import { WavefilterError } from '../../errors.js';
import type { TextCodec } from '../../checkpoint/tokenizer.js';

export function rulerPromptIds(codec: TextCodec | null, s: { readonly input: string; readonly answerPrefix: string }, where = 'model'): number[] {
  if (!codec) throw new WavefilterError('invalid_input', `${where}: RULER needs a tokenizer (tokenizer.json)`, { file: where });
  const head = codec.hasChatTemplate ? codec.encodeChat([{ role: 'user', content: s.input }]) : codec.encodePrompt(s.input);
  return [...head, ...codec.encodeText(s.answerPrefix)];
}
