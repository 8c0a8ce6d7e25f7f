/**
 * The producer's bounded memory: bytes of events queued or in flight. A send that does
 * not fit waits its turn (first come, first served, so a customer's events keep their
 * order), for at most maxBlockMs; then it fails with BufferFullError. Nothing is
 * dropped: every wait ends in room, an error, or a withdrawal by the caller's signal.
 */
import { abortReason, BufferFullError, SendWithdrawnError } from './errors.ts';

interface Waiter {
  bytes: number;
  admit: () => void;
  fail: (e: Error) => void;
}

export class SendBuffer {
  private held = 0;
  private readonly waiters: Waiter[] = [];

  constructor(readonly capacity: number, private readonly maxBlockMs: number) {}

  get heldBytes(): number {
    return this.held;
  }

  get waiting(): number {
    return this.waiters.length;
  }

  /**
   * Takes room for `bytes`, then calls `admitted` synchronously, so the caller queues the
   * event in the same turn and nobody can slip in between. Without room, waits in line
   * (first come, first served) for at most maxBlockMs, or until `signal` withdraws it.
   */
  acquire(bytes: number, admitted: () => void, failed: (e: Error) => void, signal?: AbortSignal): void {
    if (signal?.aborted) return failed(new SendWithdrawnError(abortReason(signal)));
    if (this.waiters.length === 0 && this.fits(bytes)) {
      this.held += bytes;
      return admitted();
    }
    const started = Date.now();
    const leave = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      const i = this.waiters.indexOf(waiter);
      if (i >= 0) this.waiters.splice(i, 1);
    };
    const waiter: Waiter = {
      bytes,
      admit: () => {
        leave();
        admitted();
      },
      fail: (e) => {
        leave();
        failed(e);
        this.admitWaiters(); // the next in line may fit where this one did not
      },
    };
    const timer = setTimeout(() => waiter.fail(new BufferFullError(this.capacity, Date.now() - started)), this.maxBlockMs);
    const onAbort = () => waiter.fail(new SendWithdrawnError(abortReason(signal as AbortSignal)));
    signal?.addEventListener('abort', onAbort, { once: true });
    this.waiters.push(waiter);
  }

  release(bytes: number): void {
    this.held -= bytes;
    this.admitWaiters();
  }

  /** An event larger than the whole buffer still goes when the buffer is empty, alone. */
  private fits(bytes: number): boolean {
    return this.held === 0 || this.held + bytes <= this.capacity;
  }

  private admitWaiters(): void {
    while (this.waiters.length) {
      const w = this.waiters[0] as Waiter;
      if (!this.fits(w.bytes)) return;
      this.held += w.bytes;
      w.admit();
    }
  }
}
