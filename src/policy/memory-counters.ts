import type { RuleCounters } from './types.js';

/**
 * RuleCounters in memory, for tests and throwaway nodes (lost on restart). Each method
 * decides and records synchronously (no await between the check and the update), so
 * concurrent callers cannot both slip under a limit.
 */
export class MemoryRuleCounters implements RuleCounters {
  private readonly uses = new Map<string, number[]>();
  private readonly daily = new Map<string, bigint>();

  async takeRate(counterKey: string, windowSeconds: number, max: number, now: Date): Promise<boolean> {
    const t = now.getTime();
    const since = t - windowSeconds * 1000;
    const kept = (this.uses.get(counterKey) ?? []).filter((u) => u > since);
    if (kept.length >= max) {
      this.uses.set(counterKey, kept);
      return false;
    }
    kept.push(t);
    this.uses.set(counterKey, kept);
    return true;
  }

  async addDaily(counterKey: string, day: string, amount: bigint, cap: bigint): Promise<boolean> {
    const k = `${counterKey}\n${day}`;
    const total = (this.daily.get(k) ?? 0n) + amount;
    if (total > cap) return false;
    this.daily.set(k, total);
    return true;
  }

  /** The day's recorded total (tests). */
  dailyTotal(counterKey: string, day: string): bigint {
    return this.daily.get(`${counterKey}\n${day}`) ?? 0n;
  }
}
