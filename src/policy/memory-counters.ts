import type { RuleCounters } from './types.js';

/**
 * RuleCounters in memory, for tests and throwaway nodes (lost on restart). Each method
 * decides and records synchronously (no await between the check and the update), so
 * concurrent callers cannot both slip under a limit.
 */
export class MemoryRuleCounters implements RuleCounters {
  private readonly uses = new Map<string, number[]>();
  private readonly daily = new Map<string, bigint>();

  async takeRate(counterKey: string, windowSeconds: number, max: number, now: Date, count = 1): Promise<boolean> {
    const t = now.getTime();
    const since = t - windowSeconds * 1000;
    const kept = (this.uses.get(counterKey) ?? []).filter((u) => u > since);
    if (kept.length + count > max) {
      this.uses.set(counterKey, kept);
      return false;
    }
    for (let i = 0; i < count; i++) kept.push(t);
    this.uses.set(counterKey, kept);
    return true;
  }

  async returnRate(counterKey: string, at: Date, count: number): Promise<void> {
    const uses = this.uses.get(counterKey) ?? [];
    for (let i = 0; i < count; i++) {
      const j = uses.indexOf(at.getTime());
      if (j < 0) return;
      uses.splice(j, 1);
    }
  }

  async addDaily(counterKey: string, day: string, amount: bigint, cap: bigint): Promise<boolean> {
    const k = `${counterKey}\n${day}`;
    const total = (this.daily.get(k) ?? 0n) + amount;
    if (total > cap) return false;
    this.daily.set(k, total);
    return true;
  }

  async returnDaily(counterKey: string, day: string, amount: bigint): Promise<void> {
    const k = `${counterKey}\n${day}`;
    const total = (this.daily.get(k) ?? 0n) - amount;
    this.daily.set(k, total > 0n ? total : 0n);
  }

  /** Uses of a counter key inside the window ending at `now` (tests). */
  rateUses(counterKey: string, windowSeconds: number, now: Date): number {
    return (this.uses.get(counterKey) ?? []).filter((u) => u > now.getTime() - windowSeconds * 1000).length;
  }

  /** The day's recorded total (tests). */
  dailyTotal(counterKey: string, day: string): bigint {
    return this.daily.get(`${counterKey}\n${day}`) ?? 0n;
  }
}
