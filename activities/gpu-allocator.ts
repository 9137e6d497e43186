/**
 * A worker's GPU inventory: device ids handed out exclusively, first come first served, released
 * when the try ends (success, failure, cancellation) — the activity's `finally`. A worker that
 * crashes loses its allocations with its memory; the retry of a lost try first kills the orphaned
 * work, so a device is never used twice.
 */
export class GpuRequestTooLargeError extends Error {
  override readonly name = 'GpuRequestTooLargeError';
}

export interface GpuAllocation {
  devices: string[];
  release(): void;
}

interface Waiter {
  count: number;
  owner: string;
  resolve(a: GpuAllocation): void;
  reject(err: Error): void;
}

export class GpuAllocator {
  private readonly free: string[];
  private readonly owners = new Map<string, string>();
  private readonly waiters: Waiter[] = [];

  constructor(
    readonly devices: readonly string[],
    readonly gpuType: string | null = null,
  ) {
    if (new Set(devices).size !== devices.length) throw new Error(`duplicate GPU device ids in ${devices.join(',')}`);
    this.free = [...devices];
  }

  get freeCount(): number {
    return this.free.length;
  }

  /** Which owner holds each allocated device (for status output and tests). */
  holders(): ReadonlyMap<string, string> {
    return this.owners;
  }

  /**
   * Allocates `count` devices for `owner`, waiting until enough are free. Fails at once when the
   * request can never be met on this worker. `signal` abandons the wait.
   */
  acquire(count: number, owner: string, signal?: AbortSignal): Promise<GpuAllocation> {
    if (!Number.isInteger(count) || count < 1)
      return Promise.reject(new Error(`GPU count must be a positive integer, got ${count}`));
    if (count > this.devices.length) {
      return Promise.reject(
        new GpuRequestTooLargeError(
          `the task asks for ${count} GPU(s) but this worker has ${this.devices.length}${this.gpuType ? ` (${this.gpuType})` : ''}` +
            (this.devices.length ? ` (devices ${this.devices.join(', ')})` : '') +
            '; no worker on this queue can run it',
        ),
      );
    }
    return new Promise((resolve, reject) => {
      const waiter: Waiter = { count, owner, resolve, reject };
      this.waiters.push(waiter);
      signal?.addEventListener(
        'abort',
        () => {
          const i = this.waiters.indexOf(waiter);
          if (i >= 0) {
            this.waiters.splice(i, 1);
            reject(new Error('cancelled while waiting for a GPU'));
          }
        },
        { once: true },
      );
      this.dispatch();
    });
  }

  private dispatch(): void {
    // Strict FIFO: a large request at the head is not starved by smaller ones behind it.
    while (this.waiters.length > 0 && this.waiters[0]!.count <= this.free.length) {
      const w = this.waiters.shift()!;
      const devices = this.free.splice(0, w.count);
      for (const d of devices) this.owners.set(d, w.owner);
      let released = false;
      w.resolve({
        devices,
        release: () => {
          if (released) return;
          released = true;
          for (const d of devices) this.owners.delete(d);
          this.free.push(...devices);
          this.free.sort((a, b) => this.devices.indexOf(a) - this.devices.indexOf(b));
          this.dispatch();
        },
      });
    }
  }
}
