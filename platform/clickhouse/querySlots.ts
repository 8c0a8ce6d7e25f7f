/**
 * At most `size` engine statements of the SQL endpoint at once; the rest wait in
 * arrival order. chdb runs each statement on a libuv worker thread until it is done
 * (its C interface cannot interrupt one), so a slot is given back when the engine
 * finishes, not when a client stops waiting: the count is of threads really in use.
 */
export class QuerySlots {
  private running = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(readonly size: number) {}

  get busy(): number {
    return this.running;
  }

  /** Resolves with the slot's release once one is free, or rejects when `signal` aborts first. */
  acquire(signal?: AbortSignal): Promise<() => void> {
    const grant = () => {
      this.running++;
      let released = false;
      return () => {
        if (released) return;
        released = true;
        this.running--;
        this.waiting.shift()?.();
      };
    };
    if (this.running < this.size) return Promise.resolve(grant());
    return new Promise((resolve, reject) => {
      const wake = () => {
        signal?.removeEventListener('abort', onAbort);
        resolve(grant());
      };
      const onAbort = () => {
        const i = this.waiting.indexOf(wake);
        if (i >= 0) this.waiting.splice(i, 1);
        reject(signal?.reason);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiting.push(wake);
    });
  }

  /** Resolves when every slot is free (no statement of this server in the engine). */
  async drained(): Promise<void> {
    while (this.running > 0) await new Promise((r) => setTimeout(r, 25));
  }
}

/**
 * Threads in libuv's pool, which chdb statements share with Node's own fs, zlib and dns
 * work and with the pipeline's inserts in the same process. libuv reads
 * UV_THREADPOOL_SIZE once, when the pool first starts (before any module of ours runs),
 * so this is the size it has.
 */
export function threadPoolSize(env: NodeJS.ProcessEnv = process.env): number {
  const n = Number(env.UV_THREADPOOL_SIZE);
  return Number.isInteger(n) && n > 0 ? Math.min(n, 1024) : 4;
}

/** Pool threads the endpoint leaves to the pipeline and Node's own I/O. */
export const PIPELINE_THREADS = 2;
