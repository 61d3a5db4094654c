/**
 * A reconcile queue: keys are deduplicated while waiting, handled one at a time (the operator's
 * state, e.g. address allocation, is then never raced), and retried with exponential backoff.
 */
export interface QueueOptions {
  baseDelayMs?: number;
  maxDelayMs?: number;
  onError?: (key: string, error: unknown, attempt: number, retryInMs: number) => void;
}

export class ReconcileQueue {
  private readonly pending = new Set<string>();
  private readonly order: string[] = [];
  private readonly attempts = new Map<string, number>();
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private running = false;
  private stopped = false;
  private idleWaiters: Array<() => void> = [];

  constructor(
    private readonly handler: (key: string) => Promise<void>,
    private readonly options: QueueOptions = {},
  ) {}

  add(key: string): void {
    if (this.stopped) return;
    const timer = this.timers.get(key);
    if (timer) {
      clearTimeout(timer);
      this.timers.delete(key);
    }
    if (!this.pending.has(key)) {
      this.pending.add(key);
      this.order.push(key);
    }
    void this.drain();
  }

  stop(): void {
    this.stopped = true;
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
  }

  /** Resolves when nothing is waiting or running (retries scheduled for later do not count). */
  idle(): Promise<void> {
    if (!this.running && this.order.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private async drain(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      while (!this.stopped && this.order.length > 0) {
        const key = this.order.shift() as string;
        this.pending.delete(key);
        try {
          await this.handler(key);
          this.attempts.delete(key);
        } catch (error) {
          const attempt = (this.attempts.get(key) ?? 0) + 1;
          this.attempts.set(key, attempt);
          const delay = Math.min(this.options.maxDelayMs ?? 60_000, (this.options.baseDelayMs ?? 500) * 2 ** (attempt - 1));
          this.options.onError?.(key, error, attempt, delay);
          if (!this.stopped) {
            this.timers.set(
              key,
              setTimeout(() => {
                this.timers.delete(key);
                this.add(key);
              }, delay),
            );
          }
        }
      }
    } finally {
      this.running = false;
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const w of waiters) w();
    }
  }
}
