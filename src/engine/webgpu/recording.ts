/**
 * A recorded step (WebGPUBackend.beginCapture … endCapture): the dispatches and uploads of one run
 * of some code, re-issued by `replay` without running that code again. For a training step this
 * skips autodiff, the pool and the bind-group lookups: only the GPU commands are encoded.
 *
 * What a replay does: for every upload of the captured run (its *slots*), copy the slot's data into
 * the same buffer at the same point of the command stream, then the captured dispatches with the
 * same pipelines, buffers, uniforms and workgroup counts. A slot's data is what was uploaded during
 * the capture unless `replay` is given new data for it (same length): the next batch, the
 * optimiser's step-dependent scalars (uploaded with a label). Uniform blocks are fixed at capture:
 * anything that changes between replays must reach the kernels through a slot.
 *
 * Buffers: the external storages named at `endCapture` (parameters, moments) are used in place;
 * every other buffer the run touched is reserved for the recording until `dispose` (the pool does
 * not hand it out), so other work between replays cannot share it.
 */
import type { Recording, Storage } from '../backend.js';
import type { WebGPUBackend } from './backend.js';
import type { PooledBuffer } from './pool.js';

export interface CapturedDispatch {
  kind: 'dispatch';
  key: string;
  pipeline: GPUComputePipeline;
  layout: GPUBindGroupLayout;
  sig: string;
  buffers: PooledBuffer[];
  uniforms: Uint8Array | null;
  uniformBind: number;
  workgroups: [number, number, number];
}

export interface CapturedWrite {
  kind: 'write';
  buffer: PooledBuffer;
  storage: Storage;
  data: Float32Array;
  label: string | null;
}

export type CaptureOp = CapturedDispatch | CapturedWrite;

export type ReplayOp =
  | { kind: 'copy'; src: GPUBuffer; dst: PooledBuffer; bytes: number }
  | { kind: 'dispatch'; key: string; pipeline: GPUComputePipeline; bindGroup: GPUBindGroup; offset: Uint32Array;
    workgroups: [number, number, number]; buffers: PooledBuffer[] };

const USAGE_COPY_SRC = 0x04;
const USAGE_COPY_DST = 0x08;
const USAGE_UNIFORM = 0x40;

export class StepRecording implements Recording {
  /** Dispatches per replay. */
  readonly dispatchCount: number;
  private readonly ops: ReplayOp[];
  /** What `replay` issues: all ops, or those left by `ablate`. */
  private issued: ReplayOp[];
  private readonly staging: GPUBuffer[] = [];
  private readonly lengths: number[] = [];
  private readonly bySlotStorage = new Map<Storage, number>();
  private readonly byLabel = new Map<string, number[]>();
  private readonly uniformBuffer: GPUBuffer | null;
  private disposed = false;

  constructor(private readonly be: WebGPUBackend, captured: readonly CaptureOp[], private readonly reserved: ReadonlySet<PooledBuffer>,
    align: number) {
    const device = be.device;
    // Uniform blocks side by side in one buffer, each at an aligned offset with its binding window.
    let size = 0;
    const offsets = captured.map((op) => {
      if (op.kind !== 'dispatch' || !op.uniforms) return -1;
      const at = size;
      size += Math.ceil(op.uniforms.byteLength / align) * align;
      return at;
    });
    // Each block is bound through a window of `uniformBind` bytes, which must lie inside the buffer.
    captured.forEach((op, i) => { if (op.kind === 'dispatch' && op.uniforms) size = Math.max(size, offsets[i]! + op.uniformBind); });
    this.uniformBuffer = size > 0 ? device.createBuffer({ size: Math.ceil(size / 16) * 16, usage: USAGE_UNIFORM | USAGE_COPY_DST }) : null;
    if (this.uniformBuffer) {
      const bytes = new Uint8Array(this.uniformBuffer.size);
      captured.forEach((op, i) => { if (op.kind === 'dispatch' && op.uniforms) bytes.set(op.uniforms, offsets[i]!); });
      device.queue.writeBuffer(this.uniformBuffer, 0, bytes);
    }
    const groups = new Map<string, GPUBindGroup>();
    this.ops = captured.map((op, i): ReplayOp => {
      if (op.kind === 'write') {
        const slot = this.staging.length;
        const bytes = op.data.byteLength;
        const st = device.createBuffer({ size: Math.ceil(bytes / 16) * 16, usage: USAGE_COPY_SRC | USAGE_COPY_DST });
        device.queue.writeBuffer(st, 0, op.data.buffer, op.data.byteOffset, bytes);
        this.staging.push(st);
        this.lengths.push(op.data.length);
        this.bySlotStorage.set(op.storage, slot);
        if (op.label !== null) this.byLabel.set(op.label, [...(this.byLabel.get(op.label) ?? []), slot]);
        return { kind: 'copy', src: st, dst: op.buffer, bytes };
      }
      let key = `${op.sig}:${op.uniformBind}`;
      for (const b of op.buffers) key += `,${b.id}`;
      let bindGroup = groups.get(key);
      if (!bindGroup) {
        bindGroup = be.bindGroupFor(op.layout, op.buffers, op.uniforms ? this.uniformBuffer : null, op.uniformBind);
        groups.set(key, bindGroup);
      }
      return { kind: 'dispatch', key: op.key, pipeline: op.pipeline, bindGroup, offset: op.uniforms ? new Uint32Array([offsets[i]!]) : new Uint32Array(0),
        workgroups: op.workgroups, buffers: op.buffers };
    });
    this.dispatchCount = this.ops.filter((o) => o.kind === 'dispatch').length;
    this.issued = this.ops;
  }

  /**
   * For benchmarks only: replays leave out the dispatches whose pipeline key matches `skip` (all
   * are issued again with `null`), and the count of those issued is returned. The results are then
   * wrong; what it measures is how much of a step those kernels take, their launch gaps included.
   */
  ablate(skip: RegExp | null): number {
    this.issued = skip ? this.ops.filter((o) => o.kind !== 'dispatch' || !skip.test(o.key)) : this.ops;
    return this.issued.filter((o) => o.kind === 'dispatch').length;
  }

  /** Slots (uploads) of the captured run, in order. */
  get slotCount(): number {
    return this.staging.length;
  }

  /** The slot that uploaded `storage` during the capture. */
  slotOf(storage: Storage): number {
    const s = this.bySlotStorage.get(storage);
    if (s === undefined) throw new Error('StepRecording.slotOf: that storage was not uploaded during the capture');
    return s;
  }

  /** The slots uploaded with `label` during the capture (in order). */
  slotsLabelled(label: string): readonly number[] {
    return this.byLabel.get(label) ?? [];
  }

  /** Elements of a slot's data. */
  slotLength(slot: number): number {
    const n = this.lengths[slot];
    if (n === undefined) throw new RangeError(`StepRecording: expected a slot below ${this.lengths.length}, got ${slot}`);
    return n;
  }

  /** Records the step again; `inputs` replace the data of some slots (same lengths). No readback. */
  replay(inputs: ReadonlyMap<number, Float32Array> = new Map()): void {
    if (this.disposed) throw new Error('StepRecording.replay: recording already disposed');
    for (const [slot, data] of inputs) {
      if (data.length !== this.slotLength(slot)) {
        throw new RangeError(`StepRecording.replay: slot ${slot} expected ${this.lengths[slot]} values, got ${data.length}`);
      }
    }
    // Staging writes run before the pending command buffer: submit the previous replay's copies first.
    if (inputs.size > 0) this.be.flush();
    for (const [slot, data] of inputs) this.be.device.queue.writeBuffer(this.staging[slot]!, 0, data.buffer, data.byteOffset, data.byteLength);
    this.be.replayOps(this.issued);
  }

  /** Frees the recording's own buffers and returns the reserved ones to the pool. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.be.flush();
    for (const b of this.staging) b.destroy();
    this.uniformBuffer?.destroy();
    for (const b of this.reserved) if (!b.destroyed) this.be.pool.unreserve(b);
  }
}
