import Type from 'typebox';
import { defineRuleKind, Nullable } from './kind.js';
import { approve, refuse } from './results.js';

const ALL_DAYS = [0, 1, 2, 3, 4, 5, 6];
const DAY_NAMES = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];
const HH_MM = '([01][0-9]|2[0-3]):[0-5][0-9]';

/**
 * time_window: `start_utc`, `end_utc` ("HH:MM", UTC; end may be "24:00"), `days` (0 =
 * Sunday, default all seven). Minute resolution, [start, end). With end before start the
 * window wraps midnight and its after-midnight part belongs to the day it started on
 * (22:00 to 06:00 on Friday covers Saturday 03:00). start == end is the whole day.
 */
export const timeWindow = defineRuleKind({
  type: 'time_window',
  description: 'Refuses outside [start_utc, end_utc) on the given days (UTC; end before start wraps midnight, and the part after midnight belongs to the day it started on).',
  example: { name: 'office-hours', type: 'time_window', start_utc: '08:00', end_utc: '18:00', days: [1, 2, 3, 4, 5] },
  fields: {
    start_utc: Type.String({ pattern: `^${HH_MM}$`, description: 'Start, "HH:MM" UTC (00:00..23:59).', errorMessage: 'start_utc must be "HH:MM" (UTC, 00:00..23:59)' }),
    end_utc: Type.String({
      pattern: `^(${HH_MM}|24:00)$`,
      description: 'End (excluded), "HH:MM" UTC (00:00..23:59 or 24:00); before start: the window wraps midnight; equal to start: the whole day.',
      errorMessage: 'end_utc must be "HH:MM" (UTC, 00:00..23:59 or 24:00)',
    }),
    days: Nullable(Type.Array(Type.Integer({ minimum: 0, maximum: 6, errorMessage: 'each day must be an integer between 0 (Sunday) and 6 (Saturday)' }), { minItems: 1, maxItems: 7 }), {
      description: 'The days the window opens on, 0 = Sunday .. 6 = Saturday; absent or null: every day.',
      default: ALL_DAYS,
    }),
  },
  normalise(b) {
    const days = b.days === undefined || b.days === null ? [...ALL_DAYS] : [...new Set(b.days)].sort((x, y) => x - y);
    return { type: 'time_window' as const, start_utc: b.start_utc, end_utc: b.end_utc, days };
  },
  check(def, _ctx, now) {
    if (inTimeWindow(def, now)) return approve;
    const days = def.days.length === 7 ? '' : ` on ${def.days.map((d) => DAY_NAMES[d]).join(', ')}`;
    return refuse(`outside the allowed time window ${def.start_utc}-${def.end_utc} UTC${days} (now ${now.toISOString()})`);
  },
});

function minutes(hhmm: string): number {
  const [h, m] = hhmm.split(':');
  return Number(h) * 60 + Number(m);
}

export function inTimeWindow(def: { start_utc: string; end_utc: string; days: number[] }, now: Date): boolean {
  const t = now.getUTCHours() * 60 + now.getUTCMinutes();
  const day = now.getUTCDay();
  const start = minutes(def.start_utc);
  const end = minutes(def.end_utc);
  if (start === end || (start === 0 && end === 24 * 60)) return def.days.includes(day);
  if (start < end) return t >= start && t < end && def.days.includes(day);
  // Wraps midnight: the evening part is today's window, the early-morning part yesterday's.
  if (t >= start) return def.days.includes(day);
  if (t < end) return def.days.includes((day + 6) % 7);
  return false;
}
