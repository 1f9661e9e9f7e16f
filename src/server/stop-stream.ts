/**
 * Append-only streaming of a growing answer with stop strings: what goes out never has to be taken
 * back. Text that may be the start of a stop string, or that ends in an incomplete UTF-8 sequence
 * (decoded as U+FFFD until its last byte is settled), is held until the next text decides it.
 */
export class StopStream {
  private sent = 0;
  private done = false;

  constructor(private readonly stops: readonly string[]) {}

  /** The text so far (it only grows); returns what may be sent now and whether a stop string ended it. */
  push(text: string): { emit: string; stopped: boolean } {
    if (this.done) return { emit: '', stopped: true };
    const cut = this.firstStop(text);
    if (cut !== null) {
      this.done = true;
      return { emit: this.take(text, cut), stopped: true };
    }
    let safe = text.length - this.heldTail(text);
    while (safe > this.sent && text[safe - 1] === '\uFFFD') safe--;
    return { emit: this.take(text, safe), stopped: false };
  }

  /** The final text: everything not sent yet, up to a stop string. */
  finish(text: string): { emit: string; stopped: boolean } {
    if (this.done) return { emit: '', stopped: true };
    const cut = this.firstStop(text);
    this.done = true;
    return { emit: this.take(text, cut ?? text.length), stopped: cut !== null };
  }

  /** Index of the first stop string's start, or null. */
  firstStop(text: string): number | null {
    let best: number | null = null;
    for (const s of this.stops) {
      const i = text.indexOf(s);
      if (i >= 0 && (best === null || i < best)) best = i;
    }
    return best;
  }

  /** Length of the longest end of `text` that is a proper prefix of a stop string. */
  private heldTail(text: string): number {
    let hold = 0;
    for (const s of this.stops)
      for (let k = Math.min(s.length - 1, text.length); k > hold; k--)
        if (text.endsWith(s.slice(0, k))) {
          hold = k;
          break;
        }
    return hold;
  }

  private take(text: string, upTo: number): string {
    if (upTo <= this.sent) return '';
    const out = text.slice(this.sent, upTo);
    this.sent = upTo;
    return out;
  }
}
