// Login throttling: after too many failures for one user name or one client address within a window, refuse
// further attempts until the window passes. In memory, per server process (documented in docs/security.md).

export class LoginLimiter {
  private readonly failures = new Map<string, number[]>();

  constructor(
    private readonly maxFailures: number,
    private readonly windowMs: number,
  ) {}

  private recent(key: string, now: number): number[] {
    const list = (this.failures.get(key) ?? []).filter((t) => now - t < this.windowMs);
    if (list.length) this.failures.set(key, list);
    else this.failures.delete(key);
    return list;
  }

  /** Seconds to wait before another attempt is allowed, or 0. */
  retryAfter(user: string, client: string, now = Date.now()): number {
    let wait = 0;
    for (const key of [`u:${user}`, `c:${client}`]) {
      const list = this.recent(key, now);
      const limit = key.startsWith('c:') ? this.maxFailures * 4 : this.maxFailures;
      if (list.length >= limit) wait = Math.max(wait, Math.ceil((list[0]! + this.windowMs - now) / 1000));
    }
    return wait;
  }

  fail(user: string, client: string, now = Date.now()): void {
    for (const key of [`u:${user}`, `c:${client}`]) this.failures.set(key, [...this.recent(key, now), now]);
  }

  succeed(user: string): void {
    this.failures.delete(`u:${user}`);
  }
}
