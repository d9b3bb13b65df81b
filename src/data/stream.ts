/**
 * `BatchStream`: one batch per `next()` from a generator that may produce several batches per call
 * (the SIR task yields ⌊T/B⌋ batches per simulation). Its state is three integers plus a position,
 * JSON-serialisable, so training resumes on exactly the batch it would have seen next.
 */
import { Rng } from '../engine/random.js';
import type { Batch } from './batch.js';

export interface BatchStreamState {
  /** State of the stream's own generator (advanced once per group). */
  rng: [number, number, number];
  /** Key of the current group (the generator's input), or null before the first group. */
  group: [number, number, number] | null;
  /** Batches of the current group already returned. */
  index: number;
}

export class BatchStream {
  private buffer: Batch[] = [];
  private index = 0;
  private group: [number, number, number] | null = null;

  constructor(private readonly generate: (rng: Rng) => Batch | Batch[], private readonly rng: Rng) {}

  static fromState(generate: (rng: Rng) => Batch | Batch[], s: BatchStreamState): BatchStream {
    const stream = new BatchStream(generate, Rng.fromState(s.rng));
    if (s.group !== null) {
      stream.group = [...s.group];
      stream.buffer = stream.run(Rng.fromState(s.group));
      stream.index = s.index;
    }
    return stream;
  }

  private run(key: Rng): Batch[] {
    const out = this.generate(key);
    const list = Array.isArray(out) ? out : [out];
    if (list.length === 0) throw new Error('BatchStream: the generator returned no batches');
    return list;
  }

  next(): Batch {
    if (this.index >= this.buffer.length) {
      const key = this.rng.split();
      this.group = key.state();
      this.buffer = this.run(key);
      this.index = 0;
    }
    return this.buffer[this.index++]!;
  }

  state(): BatchStreamState {
    return { rng: this.rng.state(), group: this.group === null ? null : [...this.group], index: this.index };
  }
}
