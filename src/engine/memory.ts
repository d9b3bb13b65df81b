/**
 * Allocation accounting shared by every backend: live and peak bytes, and the largest single
 * buffer ever created. Backends call `recordAlloc`/`recordFree` for every buffer they create,
 * including internal scratch, so tests can assert that no [Q, K]-sized buffer ever exists.
 */

export interface MemoryStats {
  liveBytes: number;
  peakBytes: number;
  largestBytes: number;
  allocations: number;
}

export class MemoryAccount {
  liveBytes = 0;
  peakBytes = 0;
  largestBytes = 0;
  allocations = 0;
  private listeners = new Set<(bytes: number) => void>();

  recordAlloc(bytes: number): void {
    this.liveBytes += bytes;
    this.allocations++;
    if (this.liveBytes > this.peakBytes) this.peakBytes = this.liveBytes;
    if (bytes > this.largestBytes) this.largestBytes = bytes;
    for (const l of this.listeners) l(bytes);
  }

  recordFree(bytes: number): void {
    this.liveBytes -= bytes;
  }

  /** Resets peak and largest to the current live size; returns the previous stats. */
  resetPeak(): MemoryStats {
    const s = this.stats();
    this.peakBytes = this.liveBytes;
    this.largestBytes = 0;
    return s;
  }

  stats(): MemoryStats {
    return { liveBytes: this.liveBytes, peakBytes: this.peakBytes, largestBytes: this.largestBytes,
      allocations: this.allocations };
  }

  /** Calls `fn(bytes)` on every allocation until the returned function is called. */
  onAlloc(fn: (bytes: number) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }
}
