/**
 * Bearer selection (issue: "config chooses one per number range, with a
 * fallback"): the first rule whose ranges match the recipient names the
 * bearer; otherwise the fallback does. For example
 *
 *   selection:
 *     rules:
 *       - { ranges: ['+1555*'], bearer: smpp }
 *       - { ranges: ['+4475*', '+4476*'], bearer: pap }
 *     fallback: spool
 *
 * Patterns are the routing table's: `+1555*` (a prefix followed by digits),
 * `+15550002222` (one number), and `*` (any address).
 */
import { z } from 'zod';
import { BearerError } from './errors.js';
import type { Notifier, PushRequest } from './notifier.js';

const rangePattern = z.string().regex(/^(\*|\+?[0-9]+\*?)$/, 'a number range is +digits, +digits* or *');

export const bearerSelectionSchema = z.object({
  rules: z.array(z.object({ ranges: z.array(rangePattern).min(1), bearer: z.string().min(1) })).default([]),
  /** The bearer of every address no rule matches; without it, such a push fails for good. */
  fallback: z.string().min(1).optional(),
});
export type BearerSelection = z.infer<typeof bearerSelectionSchema>;

export function matchesRange(address: string, pattern: string): boolean {
  if (pattern === '*') return true;
  if (!pattern.endsWith('*')) return address === pattern;
  const prefix = pattern.slice(0, -1);
  return address.startsWith(prefix) && /^[0-9]*$/.test(address.slice(prefix.length));
}

export class SelectingNotifier implements Notifier {
  constructor(
    private readonly selection: BearerSelection,
    private readonly bearers: Readonly<Record<string, Notifier>>,
  ) {
    // A rule naming a bearer that is not configured is a configuration error: found now, not at the first push.
    for (const name of [...selection.rules.map((r) => r.bearer), ...(selection.fallback !== undefined ? [selection.fallback] : [])]) {
      if (!Object.hasOwn(bearers, name)) throw new Error(`bearer selection names "${name}", which is not configured (configured: ${Object.keys(bearers).join(', ') || 'none'})`);
    }
  }

  /** The bearer name for an address, or undefined when no rule matches and there is no fallback. */
  bearerFor(address: string): string | undefined {
    for (const rule of this.selection.rules) {
      if (rule.ranges.some((p) => matchesRange(address, p))) return rule.bearer;
    }
    return this.selection.fallback;
  }

  async notify(push: PushRequest): Promise<void> {
    const name = this.bearerFor(push.to);
    if (name === undefined) throw new BearerError('select', `no bearer is configured for ${push.to} (no rule matches and there is no fallback)`, false);
    await this.bearers[name]!.notify(push);
  }
}
