/**
 * Tensors, ownership and the autodiff tape.
 *
 * Ownership: every op borrows its inputs and returns a result the caller owns. `dispose()` (or
 * `using t = ...`) releases it; using a disposed tensor throws `DisposedTensorError`. Buffers are
 * reference counted so that `reshape` can alias without copying and so that the tape can keep the
 * values its backward pass needs even if the caller disposes them.
 *
 * Scopes: `tidy(fn)` disposes every tensor created inside `fn` that `fn` does not return.
 * Autodiff: `valueAndGrad(f)` records a tape while `f` runs, then runs the backward pass and frees
 * every intermediate before returning; nothing depends on garbage collection.
 */

import type { Backend, Storage } from './backend.js';

export class DisposedTensorError extends Error {
  constructor(op: string, shape: readonly number[]) {
    super(`${op}: tensor of shape [${shape.join(', ')}] was already disposed`);
    this.name = 'DisposedTensorError';
  }
}

export class ShapeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ShapeError';
  }
}

/** A reference-counted backend buffer, shared by aliases (reshape, tape handles). */
interface Buf {
  storage: Storage;
  refs: number;
  backend: Backend;
}

let nextId = 1;

export class Tensor implements Disposable {
  readonly id = nextId++;
  readonly shape: readonly number[];
  readonly size: number;
  readonly backend: Backend;
  private buf: Buf | null;

  /** @internal Use `fromStorage` or the creation functions in ops.ts. */
  constructor(backend: Backend, buf: Buf, shape: readonly number[]) {
    this.backend = backend;
    this.buf = buf;
    this.shape = Object.freeze([...shape]);
    this.size = shapeSize(shape);
    if (buf.storage.length !== this.size) {
      throw new ShapeError(`tensor: storage of ${buf.storage.length} elements cannot have shape [${shape.join(', ')}]`);
    }
    registerInScope(this);
  }

  /** Wraps storage the caller owns (ownership moves to the tensor). */
  static fromStorage(backend: Backend, storage: Storage, shape: readonly number[]): Tensor {
    return new Tensor(backend, { storage, refs: 1, backend }, shape);
  }

  get rank(): number {
    return this.shape.length;
  }

  get disposed(): boolean {
    return this.buf === null;
  }

  /** The backend storage; throws if disposed. `op` names the caller in the error. */
  storage(op = 'tensor'): Storage {
    if (this.buf === null) throw new DisposedTensorError(op, this.shape);
    return this.buf.storage;
  }

  /** A new tensor sharing this one's buffer with another shape of the same size (no copy). */
  alias(shape: readonly number[]): Tensor {
    if (this.buf === null) throw new DisposedTensorError('reshape', this.shape);
    this.buf.refs++;
    return new Tensor(this.backend, this.buf, shape);
  }

  /** Releases this handle; the buffer is freed when its last handle goes. Idempotent. */
  dispose(): void {
    const buf = this.buf;
    if (buf === null) return;
    this.buf = null;
    if (--buf.refs === 0) buf.backend.free(buf.storage);
  }

  [Symbol.dispose](): void {
    this.dispose();
  }

  /** Copies the values to the host. */
  async data(): Promise<Float32Array> {
    return this.backend.read(this.storage('data'));
  }

  /** Synchronous copy to the host; only on backends that support it (the CPU). */
  dataSync(): Float32Array {
    const read = this.backend.readSync;
    if (!read) throw new Error(`dataSync: the ${this.backend.kind} backend cannot read synchronously; use await tensor.data()`);
    return read.call(this.backend, this.storage('dataSync'));
  }

  /** First value as a number (async). */
  async item(): Promise<number> {
    return (await this.data())[0]!;
  }

  toString(): string {
    return `Tensor[${this.shape.join(', ')}]${this.disposed ? ' (disposed)' : ''}`;
  }
}

export function shapeSize(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) throw new ShapeError(`tensor: expected non-negative integer dims, got [${shape.join(', ')}]`);
    n *= d;
  }
  return n;
}

// ---------------------------------------------------------------- scopes

const scopes: Tensor[][] = [];
/** While true, new tensors are owned by the tape, not by any scope. */
let tapeOwned = false;

function registerInScope(t: Tensor): void {
  if (tapeOwned) return;
  const top = scopes[scopes.length - 1];
  if (top) top.push(t);
}

export type TensorTree = Tensor | readonly TensorTree[] | { readonly [k: string]: TensorTree } | void | number | null;

function collect(tree: unknown, out: Set<Tensor>): void {
  if (tree instanceof Tensor) out.add(tree);
  else if (Array.isArray(tree)) for (const x of tree) collect(x, out);
  else if (tree && typeof tree === 'object') for (const x of Object.values(tree)) collect(x, out);
}

/** Runs fn; disposes every tensor created inside it that is not part of its result. */
export function tidy<T>(fn: () => T): T {
  scopes.push([]);
  let result: T;
  let created: Tensor[] = [];
  try {
    result = fn();
  } finally {
    created = scopes.pop()!;
  }
  const keep = new Set<Tensor>();
  collect(result, keep);
  const parent = scopes[scopes.length - 1];
  for (const t of created) {
    if (keep.has(t)) parent?.push(t);
    else t.dispose();
  }
  return result;
}

/** Moves tensors out of the current scope so an enclosing `tidy` will not dispose them. */
export function keep<T extends TensorTree>(tree: T): T {
  const set = new Set<Tensor>();
  collect(tree, set);
  const top = scopes[scopes.length - 1];
  if (top) {
    for (let i = top.length - 1; i >= 0; i--) if (set.has(top[i]!)) top.splice(i, 1);
  }
  return tree;
}

// ---------------------------------------------------------------- tape

/**
 * An input gradient that already includes the gradient accumulated so far for that input (`acc[k]`
 * of the backward): the tape replaces the running sum with it instead of adding, so an op whose
 * kernel can take that sum in its epilogue saves the separate add.
 */
export class Folded {
  constructor(readonly grad: Tensor) {}
}

/**
 * Backward of one recorded op: output gradients (null = zero) to input gradients (null = none).
 * `acc[k]` is the gradient accumulated so far for input k (null if none, and for all but the first
 * position of an input that appears twice); it is borrowed. Return `new Folded(acc[k] + dx)` to fold
 * it in, or the plain dx to have the tape add it.
 */
export type BackwardFn = (dys: (Tensor | null)[], acc: readonly (Tensor | null)[]) => (Tensor | Folded | null)[];

interface TapeNode {
  inputs: number[];
  outputs: number[];
  backward: BackwardFn;
}

class Tape {
  tracked = new Set<number>();
  nodes: TapeNode[] = [];
  /** Handles created by `save`; disposed when the tape ends. */
  saved: Tensor[] = [];
}

const tapes: Tape[] = [];

function activeTape(): Tape | null {
  return tapes[tapes.length - 1] ?? null;
}

/** True when an op applied to these inputs must be recorded. */
export function needsGrad(inputs: readonly (Tensor | null | undefined)[]): boolean {
  const tape = activeTape();
  if (!tape) return false;
  for (const t of inputs) if (t && tape.tracked.has(t.id)) return true;
  return false;
}

/**
 * Keeps a tensor's buffer alive for the backward pass; returns a handle the tape owns. Ops call
 * this for every tensor their backward reads.
 */
export function save(t: Tensor): Tensor {
  const tape = activeTape();
  if (!tape) return t;
  tapeOwned = true;
  try {
    const h = t.alias(t.shape);
    tape.saved.push(h);
    return h;
  } finally {
    tapeOwned = false;
  }
}

/** Records an op on the active tape (if any input is tracked). */
export function record(inputs: readonly (Tensor | null | undefined)[], outputs: readonly Tensor[], backward: BackwardFn): void {
  const tape = activeTape();
  if (!tape) return;
  if (!inputs.some((t) => t && tape.tracked.has(t.id))) return;
  tape.nodes.push({ inputs: inputs.map((t) => (t && tape.tracked.has(t.id) ? t.id : -1)), outputs: outputs.map((t) => t.id), backward });
  for (const o of outputs) tape.tracked.add(o.id);
}

/** Runs fn with recording suspended (for example inside a backward pass or an optimiser). */
export function noGrad<T>(fn: () => T): T {
  tapes.push(new Tape());
  try {
    return fn();
  } finally {
    tapes.pop();
  }
}

export interface ValueAndGrad {
  value: Tensor;
  grads: Tensor[];
}

/**
 * Returns a function computing f(params) and its gradient with respect to every param.
 * f must return a scalar (size-1) tensor. The result owns `value` and `grads`; every
 * intermediate (including the tape's saved values) is freed before it returns.
 *
 * `add` and `zerosLike` are injected by ops.ts to avoid a circular import.
 */
export function makeValueAndGrad(helpers: {
  add: (a: Tensor, b: Tensor) => Tensor;
  zerosLike: (t: Tensor) => Tensor;
  onesLike: (t: Tensor) => Tensor;
}) {
  return function valueAndGrad(f: (params: Tensor[]) => Tensor): (params: Tensor[]) => ValueAndGrad {
    return (params: Tensor[]) => {
      const tape = new Tape();
      for (const p of params) tape.tracked.add(p.id);
      scopes.push([]);
      let value: Tensor;
      const grads = new Map<number, Tensor>();
      let result: ValueAndGrad | undefined;
      try {
        tapes.push(tape);
        try {
          value = f(params);
        } finally {
          tapes.pop();
        }
        if (value.size !== 1) throw new ShapeError(`valueAndGrad: expected f to return a scalar, got shape [${value.shape.join(', ')}]`);
        grads.set(value.id, helpers.onesLike(value));
        tapes.push(new Tape()); // backward runs unrecorded
        try {
          for (let i = tape.nodes.length - 1; i >= 0; i--) {
            const node = tape.nodes[i]!;
            const dys = node.outputs.map((id) => grads.get(id) ?? null);
            if (dys.every((g) => g === null)) continue;
            const acc = node.inputs.map((id, k) => (id >= 0 && node.inputs.indexOf(id) === k ? grads.get(id) ?? null : null));
            const dxs = tidy(() => node.backward(dys, acc));
            for (const id of node.outputs) {
              const g = grads.get(id);
              if (g) { g.dispose(); grads.delete(id); }
            }
            node.inputs.forEach((id, k) => {
              const out = dxs[k];
              const prev = id >= 0 ? grads.get(id) : undefined;
              if (out instanceof Folded) {
                if (id < 0 || acc[k] !== (prev ?? null)) {
                  throw new Error(`valueAndGrad: a backward folded input ${k} into a gradient it was not given`);
                }
                grads.set(id, out.grad);
                prev?.dispose();
                return;
              }
              const dx = out;
              if (id < 0 || !dx) { dx?.dispose(); return; }
              if (prev) {
                grads.set(id, helpers.add(prev, dx));
                prev.dispose();
                dx.dispose();
              } else grads.set(id, dx);
            });
          }
        } finally {
          tapes.pop();
        }
        const out = params.map((p) => grads.get(p.id) ?? helpers.zerosLike(p));
        result = { value, grads: out };
      } finally {
        for (const h of tape.saved) h.dispose();
        const created = scopes.pop()!;
        const keepSet = new Set<Tensor>();
        if (result) collect([result.value, result.grads], keepSet);
        const parent = scopes[scopes.length - 1];
        for (const t of created) {
          if (keepSet.has(t)) parent?.push(t);
          else t.dispose();
        }
        for (const [, g] of grads) if (!keepSet.has(g)) g.dispose();
      }
      return result!;
    };
  };
}
