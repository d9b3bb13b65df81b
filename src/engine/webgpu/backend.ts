/**
 * The WebGPU backend: `Backend` (engine/backend.ts) on a `GPUDevice`, with WGSL kernels in
 * `./kernels/`. Browser-safe: it imports no Node built-in and not the `webgpu` package; the
 * loaders `./node.ts` (Dawn) and `./browser.ts` (navigator.gpu) create the device.
 *
 * How work reaches the GPU: every kernel records a dispatch into one open compute pass of one
 * command encoder; the encoder is submitted lazily, on `read`/`sync`, when the uniform ring is
 * full or every `MAX_PENDING_DISPATCHES` dispatches. Nothing is read back unless `read` is called.
 * Per-dispatch parameters go into a CPU-side uniform staging area that is copied to one uniform
 * ring buffer with a single `writeBuffer` just before the submit (no createBuffer per dispatch),
 * bound at a dynamic offset, so bind groups are cached per (layout, buffers).
 *
 * Extra API for the kernels layer (src/kernels, BSA), beyond `Backend`:
 * - `device: GPUDevice`, `hasF16`, `hasSubgroups`, `hasSubgroupMatrix`, `limits`.
 * - `buffer(s): GPUBuffer`: the storage's buffer. It is a pooled size-class buffer, possibly
 *   larger than `4·s.length` bytes (at least 256 bytes, also for length 0).
 * - `dispatch(key, wgsl, bindings, access, uniforms, workgroups)`:
 *     key:        cache key; `wgsl()` is called only the first time a (key, layout) pair is seen.
 *     wgsl:       () => WGSL source with entry point `main`. Bindings live in `@group(0)`:
 *                 binding i (0 ≤ i < bindings.length) is `var<storage, read>` when access[i] is
 *                 'read' and `var<storage, read_write>` when 'read_write'; the uniform block, if
 *                 any, is binding `bindings.length` (`var<uniform>`, a window of 256, 4096 or
 *                 65536 bytes of a ring at a dynamic offset, at least the block's length; pack
 *                 it with `Params`/`paramsWgsl` from ./wgsl.ts).
 *     bindings:   Storage[] (a storage bound read_write must appear only once in a dispatch).
 *     access:     ('read' | 'read_write')[] of the same length.
 *     uniforms:   ArrayBuffer | null.
 *     workgroups: [x, y, z], each ≤ 65535 (use `grid(n)` from ./wgsl.ts and `FLAT_WG` to split a
 *                 1-D count); a zero count records nothing.
 *   Shader compile errors are detected asynchronously and thrown (with the compiler messages and
 *   the source) by the next `sync`/`read`.
 */

import type {
  AdamWArgs, Backend, BinaryOp, MatmulArgs, ReduceOp, Storage, UnaryOp,
} from '../backend.js';
import { MemoryAccount } from '../memory.js';
import { BufferPool, type PooledBuffer } from './pool.js';
import { type CaptureOp, type ReplayOp, StepRecording } from './recording.js';
import * as elementwise from './kernels/elementwise.js';
import * as reduceK from './kernels/reduce.js';
import * as movement from './kernels/movement.js';
import * as matmulK from './kernels/matmul.js';
import * as rows from './kernels/rows.js';
import * as randomK from './kernels/random.js';
import * as adamwK from './kernels/adamw.js';

export type BindingAccess = 'read' | 'read_write';

/** Information from the loader. */
export interface WebGPUInfo {
  /** Adapter description, e.g. "nvidia-h200 (vulkan)". */
  description: string;
  /** The subgroup size when the adapter has exactly one (min = max), else null. */
  subgroupSize?: number | null;
}

export interface WebGPUBackendOptions {
  /** Idle pooled bytes kept for reuse before freed buffers are destroyed (default 1 GiB). */
  poolLimitBytes?: number;
}

/** Use of a freed storage, a foreign storage, or of the backend after `destroy`. */
export class WebGPUStorageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WebGPUStorageError';
  }
}

/** A WGSL shader failed to compile or a GPU validation error occurred. */
export class WebGPUShaderError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WebGPUShaderError';
  }
}

/** A storage of the WebGPU backend. */
export class WebGPUStorage implements Storage {
  freed = false;
  constructor(readonly length: number, readonly pooled: PooledBuffer) {}
}

// GPUBufferUsage / GPUShaderStage / GPUMapMode values, spelled out so that no global is needed.
const USAGE_MAP_READ = 0x01;
const USAGE_COPY_SRC = 0x04;
const USAGE_COPY_DST = 0x08;
const USAGE_QUERY_RESOLVE = 0x200;
const USAGE_UNIFORM = 0x40;
const STAGE_COMPUTE = 0x4;
const MAP_READ = 0x1;

const MAX_PENDING_DISPATCHES = 1024;
const UNIFORM_RING_BYTES = 1 << 20;
/** Uniform binding windows (bytes); a dispatch's block is bound through the smallest that fits. */
const UNIFORM_BIND_SIZES = [256, 4096, 65536];
/** Bind groups kept; the cache is cleared when full (destroyed buffers' entries are never hit). */
const MAX_CACHED_BIND_GROUPS = 8192;

interface CachedPipeline {
  pipeline: GPUComputePipeline;
  layout: GPUBindGroupLayout;
  /** Layout signature, e.g. 'rrwu'. */
  sig: string;
  failed: boolean;
}

export class WebGPUBackend implements Backend {
  readonly kind = 'webgpu' as const;
  readonly description: string;
  readonly memory = new MemoryAccount();
  /** Dispatches recorded so far. */
  dispatches = 0;
  /** Bind groups created (cache misses), for profiling. */
  bindGroupsCreated = 0;
  /** Per pipeline key, when a profiler sets a map here (bench model --train: fusion candidates). */
  dispatchesByKey: Map<string, number> | null = null;
  readonly hasF16: boolean;
  readonly hasSubgroups: boolean;
  readonly hasSubgroupMatrix: boolean;
  /** The adapter's one subgroup size (NVIDIA: 32), or null when it varies or is unknown. */
  readonly subgroupSize: number | null;
  readonly limits: GPUSupportedLimits;
  readonly pool: BufferPool;

  private readonly dynamicOffset = new Uint32Array(1);
  /** The pass and pipeline of the last dispatch (setPipeline is skipped when both repeat). */
  private lastPass: GPUComputePassEncoder | null = null;
  private lastPipeline: GPUComputePipeline | null = null;
  private encoder: GPUCommandEncoder | null = null;
  private pass: GPUComputePassEncoder | null = null;
  private pending = 0;
  private epoch = 1;
  private readonly uniformRing: GPUBuffer;
  private readonly uniformAlign: number;
  private readonly uniformStaging = new Uint8Array(UNIFORM_RING_BYTES);
  private uniformUsed = 0;
  private readonly pipelines = new Map<string, CachedPipeline>();
  private readonly layouts = new Map<string, GPUBindGroupLayout>();
  private readonly bindGroups = new Map<string, GPUBindGroup>();
  private readonly checks = new Set<Promise<void>>();
  /** GPU profiling (startGpuProfile): a timestamp pair per dispatch, in its own compute pass. */
  private profile: { querySet: GPUQuerySet; keys: string[]; capacity: number; dropped: number } | null = null;
  private errors: string[] = [];
  private destroyed = false;
  /** A backend-owned 1-element storage holding 1 (bound where an optional input is absent). */
  private readonly ones: WebGPUStorage;
  /** The step being captured (beginCapture … endCapture), in recording order. */
  private capture: CaptureOp[] | null = null;

  constructor(readonly device: GPUDevice, info: WebGPUInfo, options: WebGPUBackendOptions = {}) {
    this.description = info.description;
    this.hasF16 = device.features.has('shader-f16');
    this.hasSubgroups = device.features.has('subgroups');
    this.hasSubgroupMatrix = device.features.has('chromium-experimental-subgroup-matrix');
    this.subgroupSize = info.subgroupSize ?? null;
    this.limits = device.limits;
    this.uniformAlign = Math.max(16, device.limits.minUniformBufferOffsetAlignment);
    this.uniformRing = device.createBuffer({ size: UNIFORM_RING_BYTES, usage: USAGE_UNIFORM | USAGE_COPY_DST });
    // The 1 MiB uniform ring is fixed overhead, not data: it is not recorded in `memory` (it would
    // dominate `largestBytes` in small tests). Storage and read-back staging buffers are.
    this.pool = new BufferPool(device, this.memory, (b) => { if (b.lastUse === this.epoch) this.flush(); },
      options.poolLimitBytes ?? 2 ** 30, device.limits.maxBufferSize);
    this.ones = this.upload(new Float32Array([1]));
    device.addEventListener('uncapturederror', (ev) => {
      const e = (ev as GPUUncapturedErrorEvent).error;
      this.errors.push(`webgpu: uncaptured ${e.constructor.name}: ${e.message}`);
    });
  }

  // ---------------------------------------------------------------- kernel-layer API

  /** The GPUBuffer behind `s` (throws on a freed or foreign storage). */
  buffer(s: Storage): GPUBuffer {
    return this.check(s, 'buffer').pooled.buffer;
  }

  /** See the file comment. */
  dispatch(key: string, wgsl: () => string, bindings: readonly Storage[], access: readonly BindingAccess[],
    uniforms: ArrayBuffer | null, workgroups: readonly [number, number, number]): void {
    if (this.destroyed) throw new WebGPUStorageError('dispatch: backend already destroyed');
    if (access.length !== bindings.length) {
      throw new Error(`dispatch ${key}: expected ${bindings.length} access flags, got ${access.length}`);
    }
    const [x, y, z] = workgroups;
    if (x === 0 || y === 0 || z === 0) return;
    if (x > 65535 || y > 65535 || z > 65535) {
      throw new Error(`dispatch ${key}: expected ≤ 65535 workgroups per dimension, got [${x}, ${y}, ${z}]; split with grid()`);
    }
    const pooled = bindings.map((s) => this.check(s, key).pooled);
    const cached = this.pipeline(key, wgsl, access, uniforms !== null);
    if (cached.failed) return;
    let uniformOffset = 0;
    let uniformBind = 0;
    if (uniforms) {
      uniformBind = UNIFORM_BIND_SIZES.find((u) => u >= uniforms.byteLength) ?? 0;
      if (uniformBind === 0) throw new Error(`dispatch ${key}: expected at most 64 KiB of uniforms, got ${uniforms.byteLength}`);
      if (this.uniformUsed + uniformBind > UNIFORM_RING_BYTES) this.flush();
      uniformOffset = this.uniformUsed;
      this.uniformStaging.set(new Uint8Array(uniforms), uniformOffset);
      this.uniformUsed += Math.ceil(uniforms.byteLength / this.uniformAlign) * this.uniformAlign;
    }
    // Bind groups are cached by (layout, buffers, uniform window): the uniform block moves with a
    // dynamic offset, so recycled pool buffers make most dispatches hit (createBindGroup is the
    // largest per-dispatch cost in Dawn, ~10–40 µs).
    let bgKey = cached.sig;
    for (const b of pooled) bgKey += `,${b.id}`;
    if (uniforms) bgKey += `:${uniformBind}`;
    let bindGroup = this.bindGroups.get(bgKey);
    if (!bindGroup) {
      bindGroup = this.bindGroupFor(cached.layout, pooled, uniforms ? this.uniformRing : null, uniformBind);
      this.bindGroupsCreated++;
      if (this.bindGroups.size >= MAX_CACHED_BIND_GROUPS) this.bindGroups.clear();
      this.bindGroups.set(bgKey, bindGroup);
    }
    const timed = this.profile !== null && this.profile.keys.length < this.profile.capacity;
    if (this.profile && !timed) this.profile.dropped++;
    const pass = timed ? this.timedPass(key) : this.computePass();
    this.usePipeline(pass, cached.pipeline);
    // Dynamic offsets as a typed array: Dawn's Node binding converts a JS array per call (~3 µs).
    if (uniforms) {
      this.dynamicOffset[0] = uniformOffset;
      pass.setBindGroup(0, bindGroup, this.dynamicOffset, 0, 1);
    } else pass.setBindGroup(0, bindGroup);
    pass.dispatchWorkgroups(x, y, z);
    if (timed) {
      pass.end();
      this.pass = null;
    }
    this.dispatches++;
    this.dispatchesByKey?.set(key, (this.dispatchesByKey.get(key) ?? 0) + 1);
    for (const b of pooled) b.lastUse = this.epoch;
    if (this.capture) {
      for (const b of pooled) b.pinned = true;
      this.capture.push({ kind: 'dispatch', key, pipeline: cached.pipeline, layout: cached.layout, sig: cached.sig, buffers: pooled,
        uniforms: uniforms ? new Uint8Array(uniforms.slice(0)) : null, uniformBind, workgroups: [x, y, z] });
    }
    if (++this.pending >= MAX_PENDING_DISPATCHES) this.flush();
  }

  // ---------------------------------------------------------------- recorded steps

  /**
   * Starts recording every dispatch and upload (they still run as usual) until `endCapture`, which
   * returns them as a `StepRecording` that re-issues the same GPU work without the JavaScript that
   * produced it (a training step: autodiff, pool, bind-group lookups). Reads, profiling and nested
   * captures are refused while capturing.
   */
  beginCapture(): void {
    if (this.capture) throw new Error('beginCapture: a capture is already running');
    if (this.profile) throw new Error('beginCapture: a GPU profile is running');
    this.capture = [];
  }

  /** Drops a capture started by `beginCapture` (after an error in the captured code). */
  abortCapture(): void {
    for (const b of WebGPUBackend.captureBuffers(this.capture ?? [])) b.pinned = false;
    this.capture = null;
  }

  /**
   * Ends the capture. `external` are the storages that outlive the step and that the caller keeps
   * alive and unchanged in size for as long as the recording is used (parameters, optimiser
   * moments, accumulators): the recording reads and writes them in place. Every other buffer the
   * step touched is reserved for the recording (see BufferPool.reserve) until `dispose`, so later
   * allocations never share it; storages still holding such a buffer must not be used after a replay.
   */
  endCapture(external: readonly Storage[]): StepRecording {
    const ops = this.capture;
    if (!ops) throw new Error('endCapture: no capture is running');
    this.capture = null;
    const used = WebGPUBackend.captureBuffers(ops);
    for (const b of used) b.pinned = false;
    const keep = new Set(external.map((s) => this.check(s, 'endCapture').pooled));
    for (const b of used) if (b.destroyed) throw new Error('endCapture: a buffer the step used was destroyed during the capture');
    const reserved = new Set([...used].filter((b) => !keep.has(b)));
    for (const b of reserved) this.pool.reserve(b);
    return new StepRecording(this, ops, reserved, this.uniformAlign);
  }

  /** Encodes a recording's operations into the current command stream (StepRecording.replay). */
  replayOps(ops: readonly ReplayOp[]): void {
    if (this.destroyed) throw new WebGPUStorageError('replay: backend already destroyed');
    if (this.capture) throw new Error('replay: cannot replay while capturing');
    for (const op of ops) {
      if (op.kind === 'copy') {
        this.copyEncoder().copyBufferToBuffer(op.src, 0, op.dst.buffer, 0, op.bytes);
        op.dst.lastUse = this.epoch;
        continue;
      }
      const pass = this.computePass();
      this.usePipeline(pass, op.pipeline);
      if (op.offset.length > 0) pass.setBindGroup(0, op.bindGroup, op.offset, 0, 1);
      else pass.setBindGroup(0, op.bindGroup);
      pass.dispatchWorkgroups(op.workgroups[0], op.workgroups[1], op.workgroups[2]);
      for (const b of op.buffers) b.lastUse = this.epoch;
      this.dispatches++;
      if (++this.pending >= MAX_PENDING_DISPATCHES) this.flush();
    }
  }

  /**
   * A bind group of `buffers` (bindings 0…) and, if `uniformBuffer` is given, a `uniformBind`-byte
   * window of it at a dynamic offset (the next binding): for dispatches (the uniform ring) and
   * recorded steps (their own uniform buffer).
   */
  bindGroupFor(layout: GPUBindGroupLayout, buffers: readonly PooledBuffer[], uniformBuffer: GPUBuffer | null,
    uniformBind: number): GPUBindGroup {
    const maxBind = Math.floor(this.limits.maxStorageBufferBindingSize / 16) * 16;
    const entries: GPUBindGroupEntry[] = buffers.map((b, i) => ({ binding: i, resource: { buffer: b.buffer, size: Math.min(b.bytes, maxBind) } }));
    if (uniformBuffer) entries.push({ binding: buffers.length, resource: { buffer: uniformBuffer, offset: 0, size: uniformBind } });
    return this.device.createBindGroup({ layout, entries });
  }

  /** setPipeline, skipped when the pass and pipeline are those of the previous dispatch. */
  private usePipeline(pass: GPUComputePassEncoder, pipeline: GPUComputePipeline): void {
    if (pass === this.lastPass && pipeline === this.lastPipeline) return;
    pass.setPipeline(pipeline);
    this.lastPass = pass;
    this.lastPipeline = pipeline;
  }

  /** The buffers a capture's operations touch. */
  private static captureBuffers(ops: readonly CaptureOp[]): Set<PooledBuffer> {
    const used = new Set<PooledBuffer>();
    for (const op of ops) for (const b of op.kind === 'dispatch' ? op.buffers : [op.buffer]) used.add(b);
    return used;
  }

  /** Submits the recorded work now (normally done lazily). */
  flush(): void {
    if (!this.encoder) return;
    if (this.pass) {
      this.pass.end();
      this.pass = null;
    }
    if (this.uniformUsed > 0) {
      this.device.queue.writeBuffer(this.uniformRing, 0, this.uniformStaging, 0, this.uniformUsed);
    }
    this.device.queue.submit([this.encoder.finish()]);
    this.encoder = null;
    this.uniformUsed = 0;
    this.pending = 0;
    this.epoch++;
  }

  /**
   * Starts timing every dispatch on the GPU (timestamp queries; each dispatch gets its own compute
   * pass, which adds a little time of its own). For profiling only. Throws when the device lacks
   * 'timestamp-query'. At most `capacity` dispatches are timed (a query set holds at most 4096 timestamps).
   */
  startGpuProfile(capacity = 2048): void {
    if (!this.device.features.has('timestamp-query')) {
      throw new Error('startGpuProfile: expected a device with timestamp-query, got none');
    }
    if (this.profile) throw new Error('startGpuProfile: a profile is already running');
    if (this.capture) throw new Error('startGpuProfile: a step is being captured');
    this.flush();
    const querySet = this.device.createQuerySet({ type: 'timestamp', count: 2 * capacity });
    this.profile = { querySet, keys: [], capacity, dropped: 0 };
  }

  /** Ends the profile: GPU milliseconds per timed dispatch, in order, and how many were not timed. */
  async stopGpuProfile(): Promise<{ dispatches: { key: string; ms: number }[]; dropped: number }> {
    const p = this.profile;
    if (!p) throw new Error('stopGpuProfile: no profile is running');
    this.profile = null;
    const n = p.keys.length;
    const out: { key: string; ms: number }[] = [];
    if (n > 0) {
      const bytes = 16 * n;
      const resolved = this.device.createBuffer({ size: bytes, usage: USAGE_QUERY_RESOLVE | USAGE_COPY_SRC });
      const staging = this.device.createBuffer({ size: bytes, usage: USAGE_MAP_READ | USAGE_COPY_DST });
      const enc = this.copyEncoder();
      enc.resolveQuerySet(p.querySet, 0, 2 * n, resolved, 0);
      enc.copyBufferToBuffer(resolved, 0, staging, 0, bytes);
      this.flush();
      await staging.mapAsync(MAP_READ, 0, bytes);
      const t = new BigUint64Array(staging.getMappedRange(0, bytes).slice(0));
      staging.unmap();
      staging.destroy();
      resolved.destroy();
      for (let i = 0; i < n; i++) out.push({ key: p.keys[i]!, ms: Number(t[2 * i + 1]! - t[2 * i]!) / 1e6 });
    } else {
      this.flush();
    }
    p.querySet.destroy();
    this.throwErrors();
    return { dispatches: out, dropped: p.dropped };
  }

  // ---------------------------------------------------------------- memory

  alloc(n: number): WebGPUStorage {
    if (this.destroyed) throw new WebGPUStorageError('alloc: backend already destroyed');
    if (!Number.isInteger(n) || n < 0) throw new RangeError(`alloc: expected a non-negative integer length, got ${n}`);
    const bytes = n * 4;
    if (bytes > this.limits.maxStorageBufferBindingSize) {
      throw new RangeError(`alloc: ${bytes} bytes exceed this device's maxStorageBufferBindingSize ` +
        `(${this.limits.maxStorageBufferBindingSize}); split the tensor`);
    }
    return new WebGPUStorage(n, this.pool.acquire(bytes));
  }

  /**
   * A new storage holding `data`. While a step is captured the upload is recorded as one of its
   * inputs (`StepRecording.slotOf(storage)`, or by `label`), whose data a replay may replace.
   */
  upload(data: Float32Array, label?: string): WebGPUStorage {
    const s = this.alloc(data.length);
    if (data.length > 0) {
      // writeBuffer runs before the pending encoder: flush if the recycled buffer is used there.
      if (s.pooled.lastUse === this.epoch) this.flush();
      this.device.queue.writeBuffer(s.pooled.buffer, 0, data.buffer, data.byteOffset, data.byteLength);
      if (this.capture) {
        s.pooled.pinned = true;
        this.capture.push({ kind: 'write', buffer: s.pooled, storage: s, data: data.slice(), label: label ?? null });
      }
    }
    return s;
  }

  free(s: Storage): void {
    const w = this.check(s, 'free');
    w.freed = true;
    this.pool.release(w.pooled, w.length * 4);
  }

  async read(s: Storage): Promise<Float32Array> {
    const w = this.check(s, 'read');
    if (this.capture) throw new Error('read: cannot read back while a step is being captured');
    if (w.length === 0) {
      this.flush();
      await this.drainChecks();
      return new Float32Array(0);
    }
    const bytes = w.length * 4;
    const staging = this.device.createBuffer({ size: Math.ceil(bytes / 16) * 16,
      usage: USAGE_MAP_READ | USAGE_COPY_DST });
    this.memory.recordAlloc(bytes);
    try {
      this.copyEncoder().copyBufferToBuffer(w.pooled.buffer, 0, staging, 0, staging.size);
      this.flush();
      await this.drainChecks();
      await staging.mapAsync(MAP_READ, 0, staging.size);
      const out = new Float32Array(w.length);
      out.set(new Float32Array(staging.getMappedRange(0, staging.size), 0, w.length));
      staging.unmap();
      this.throwErrors();
      return out;
    } finally {
      staging.destroy();
      this.memory.recordFree(bytes);
    }
  }

  async sync(): Promise<void> {
    this.flush();
    await this.drainChecks();
    await this.device.queue.onSubmittedWorkDone();
    this.throwErrors();
  }

  destroy(): void {
    if (this.destroyed) return;
    this.flush();
    this.destroyed = true;
    this.bindGroups.clear();
    this.pool.trim();
    this.uniformRing.destroy();
    this.device.destroy();
  }

  // ---------------------------------------------------------------- kernels

  fill(n: number, value: number): Storage {
    return elementwise.fill(this, n, value);
  }

  unary(op: UnaryOp, x: Storage): Storage {
    return elementwise.unary(this, op, x);
  }

  binary(op: BinaryOp, a: Storage, aShape: readonly number[], b: Storage, bShape: readonly number[],
    outShape: readonly number[]): Storage {
    return elementwise.binary(this, op, a, aShape, b, bShape, outShape);
  }

  where(cond: Storage, cShape: readonly number[], a: Storage, aShape: readonly number[], b: Storage,
    bShape: readonly number[], outShape: readonly number[]): Storage {
    return elementwise.where(this, cond, cShape, a, aShape, b, bShape, outShape);
  }

  reduce(op: ReduceOp, x: Storage, outer: number, r: number, inner: number): Storage {
    return reduceK.reduce(this, op, x, outer, r, inner);
  }

  strided(x: Storage, shape: readonly number[], strides: readonly number[], offset: number): Storage {
    return movement.strided(this, x, shape, strides, offset);
  }

  stridedWrite(dst: Storage, src: Storage, shape: readonly number[], strides: readonly number[],
    offset: number): void {
    movement.stridedWrite(this, dst, src, shape, strides, offset);
  }

  gather(table: Storage, V: number, D: number, idx: Storage, n: number): Storage {
    return movement.gather(this, table, V, D, idx, n);
  }

  scatterAdd(g: Storage, idx: Storage, n: number, V: number, D: number): Storage {
    return movement.scatterAdd(this, g, idx, n, V, D);
  }

  matmulColSums(a: Storage, b: Storage, args: MatmulArgs): { c: Storage; sums: Storage } {
    return matmulK.matmulColSums(this, a, b, args);
  }

  matmulGelu(a: Storage, b: Storage, args: MatmulArgs): { z: Storage; y: Storage } {
    return matmulK.matmulGelu(this, a, b, args);
  }

  matmul(a: Storage, b: Storage, args: MatmulArgs): Storage {
    return matmulK.matmul(this, a, b, args);
  }

  layerNorm(x: Storage, gamma: Storage, beta: Storage, rowsN: number, cols: number, eps: number):
    { y: Storage; mean: Storage; rstd: Storage } {
    return rows.layerNorm(this, x, gamma, beta, rowsN, cols, eps);
  }

  layerNormBackward(dy: Storage, x: Storage, gamma: Storage, mean: Storage, rstd: Storage, rowsN: number,
    cols: number, acc: Storage | null = null): { dx: Storage; dgamma: Storage; dbeta: Storage } {
    return rows.layerNormBackward(this, dy, x, gamma, mean, rstd, rowsN, cols, acc);
  }

  softmax(x: Storage, rowsN: number, cols: number): Storage {
    return rows.softmax(this, x, rowsN, cols, false);
  }

  logSoftmax(x: Storage, rowsN: number, cols: number): Storage {
    return rows.softmax(this, x, rowsN, cols, true);
  }

  random(dist: 'uniform' | 'normal', n: number, key: readonly [number, number], offset: number): Storage {
    return randomK.random(this, dist, n, key, offset);
  }

  sumSquares(xs: readonly Storage[], ns: readonly number[]): Storage {
    return reduceK.sumSquares(this, xs, ns);
  }

  adamwMany(ps: readonly Storage[], gs: readonly Storage[], ms: readonly Storage[], vs: readonly Storage[],
    gScale: Storage | null, args: AdamWArgs): void {
    adamwK.adamwMany(this, ps, gs, ms, vs, gScale ?? this.ones, gScale !== null, args);
  }

  adamw(p: Storage, g: Storage, m: Storage, v: Storage, gScale: Storage | null, args: AdamWArgs): void {
    adamwK.adamwMany(this, [p], [g], [m], [v], gScale ?? this.ones, gScale !== null, args);
  }

  // ---------------------------------------------------------------- internals

  private check(s: Storage, op: string): WebGPUStorage {
    if (!(s instanceof WebGPUStorage)) {
      throw new WebGPUStorageError(`${op}: expected a webgpu storage, got ${Object.prototype.toString.call(s)}`);
    }
    if (s.freed) throw new WebGPUStorageError(`${op}: storage already freed (use after free or double free)`);
    if (this.destroyed) throw new WebGPUStorageError(`${op}: backend already destroyed`);
    return s;
  }

  private computePass(): GPUComputePassEncoder {
    if (!this.encoder) this.encoder = this.device.createCommandEncoder();
    if (!this.pass) this.pass = this.encoder.beginComputePass();
    return this.pass;
  }

  /** A new compute pass that writes the profile's next timestamp pair. */
  private timedPass(key: string): GPUComputePassEncoder {
    const p = this.profile!;
    if (this.pass) {
      this.pass.end();
      this.pass = null;
    }
    if (!this.encoder) this.encoder = this.device.createCommandEncoder();
    const i = p.keys.length;
    p.keys.push(key);
    this.pass = this.encoder.beginComputePass({
      timestampWrites: { querySet: p.querySet, beginningOfPassWriteIndex: 2 * i, endOfPassWriteIndex: 2 * i + 1 },
    });
    return this.pass;
  }

  private copyEncoder(): GPUCommandEncoder {
    if (this.pass) {
      this.pass.end();
      this.pass = null;
    }
    if (!this.encoder) this.encoder = this.device.createCommandEncoder();
    return this.encoder;
  }

  private bindGroupLayout(sig: string, access: readonly BindingAccess[], uniform: boolean): GPUBindGroupLayout {
    let layout = this.layouts.get(sig);
    if (!layout) {
      const entries: GPUBindGroupLayoutEntry[] = access.map((a, i) => ({
        binding: i, visibility: STAGE_COMPUTE,
        buffer: { type: a === 'read' ? 'read-only-storage' : 'storage' },
      }));
      if (uniform) entries.push({ binding: access.length, visibility: STAGE_COMPUTE, buffer: { type: 'uniform', hasDynamicOffset: true } });
      layout = this.device.createBindGroupLayout({ entries });
      this.layouts.set(sig, layout);
    }
    return layout;
  }

  private pipeline(key: string, wgsl: () => string, access: readonly BindingAccess[], uniform: boolean):
    CachedPipeline {
    let sig = '';
    for (const a of access) sig += a === 'read' ? 'r' : 'w';
    if (uniform) sig += 'u';
    const full = `${key}|${sig}`;
    const hit = this.pipelines.get(full);
    if (hit) return hit;
    const code = wgsl();
    const layout = this.bindGroupLayout(sig, access, uniform);
    this.device.pushErrorScope('validation');
    const module = this.device.createShaderModule({ code, label: key });
    const pipeline = this.device.createComputePipeline({
      label: key,
      layout: this.device.createPipelineLayout({ bindGroupLayouts: [layout] }),
      compute: { module, entryPoint: 'main' },
    });
    const cached: CachedPipeline = { pipeline, layout, sig, failed: false };
    this.pipelines.set(full, cached);
    const check = this.device.popErrorScope().then(async (err) => {
      if (!err) return;
      cached.failed = true;
      const info = await module.getCompilationInfo();
      const msgs = info.messages.map((m) => `  ${m.type} at ${m.lineNum}:${m.linePos}: ${m.message}`).join('\n');
      const numbered = code.split('\n').map((l, i) => `${String(i + 1).padStart(4)} ${l}`).join('\n');
      this.errors.push(`webgpu: kernel '${key}' failed to compile: ${err.message}\n${msgs}\n${numbered}`);
    });
    this.checks.add(check);
    void check.finally(() => this.checks.delete(check));
    return cached;
  }

  private async drainChecks(): Promise<void> {
    while (this.checks.size > 0) await Promise.all([...this.checks]);
    this.throwErrors();
  }

  private throwErrors(): void {
    if (this.errors.length === 0) return;
    const msg = this.errors.join('\n');
    this.errors = [];
    throw new WebGPUShaderError(msg);
  }
}

/**
 * Creates the WebGPU backend on an existing device (see ./node.ts and ./browser.ts for loaders).
 *
 * **Arguments**: `device` with the limits and features requested by the loader; `info.description`
 * names the adapter.
 * **Returns**: the backend; call `destroy()` to release its buffers and the device.
 */
export function createWebGPUBackend(device: GPUDevice, info: WebGPUInfo,
  options: WebGPUBackendOptions = {}): WebGPUBackend {
  return new WebGPUBackend(device, info, options);
}
