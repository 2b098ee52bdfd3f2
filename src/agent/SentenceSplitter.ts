/**
 * Cuts streamed agent text into sentences as it arrives, so each can go to
 * text-to-speech at once instead of waiting for the whole reply. A sentence
 * ends at . ! ? (or a newline) followed by space; a very long run without
 * one is cut at a comma or space past MAX_CHARS so speech never waits long.
 */
const END = /[.!?\u3002\uff01\uff1f]["')\]]*\s|\n+/g;
const MAX_CHARS = 160;

export class SentenceSplitter {
  #buffer = '';

  /** Add streamed text; returns the sentences it completed. */
  push(text: string): string[] {
    this.#buffer += text;
    const out: string[] = [];
    for (;;) {
      END.lastIndex = 0;
      const match = END.exec(this.#buffer);
      let cut = match ? match.index + match[0].length : -1;
      if (cut < 0 && this.#buffer.length > MAX_CHARS) {
        const soft = Math.max(this.#buffer.lastIndexOf(', ', MAX_CHARS), this.#buffer.lastIndexOf(' ', MAX_CHARS));
        cut = soft > 0 ? soft + 1 : MAX_CHARS;
      }
      if (cut < 0) break;
      const sentence = this.#buffer.slice(0, cut).trim();
      this.#buffer = this.#buffer.slice(cut);
      if (sentence) out.push(sentence);
    }
    return out;
  }

  /** The rest, at the end of the reply. */
  flush(): string | null {
    const rest = this.#buffer.trim();
    this.#buffer = '';
    return rest || null;
  }
}
