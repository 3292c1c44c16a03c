// Rule models: validation of the expression tree (no code, declared features only, size limits) and three-valued
// evaluation, walked through the shipped hepatitis B reactivation rule's whole truth table.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { AppError } from '../errors.js';
import { evaluateRule, parseRuleSpec, type RuleExpr } from './rule.js';

const hbv = JSON.parse(readFileSync(new URL('./examples/hbv-reactivation.rule.json', import.meta.url), 'utf8')) as {
  spec: unknown;
};

const code = (f: () => unknown) => {
  try {
    f();
  } catch (e) {
    return (e as AppError).code;
  }
  return 'no error';
};

describe('the hepatitis B reactivation rule', () => {
  const spec = parseRuleSpec(hbv.spec);
  const run = (hbsag: string | null, antiHbc: string | null, imm: boolean, chemo: boolean) =>
    evaluateRule(spec, { hbsag, anti_hbc: antiHbc, immunosuppressant_order: imm, chemotherapy_order: chemo }).output;

  it('fires for a positive marker with an immunosuppressive or cytotoxic order', () => {
    expect(run('positive', 'negative', true, false)).toBe(true);
    expect(run('negative', 'positive', false, true)).toBe(true);
    expect(run('positive', 'positive', true, true)).toBe(true);
  });
  it('does not fire without such an order, or with negative markers', () => {
    expect(run('positive', 'positive', false, false)).toBe(false);
    expect(run('negative', 'negative', true, true)).toBe(false);
  });
  it('knows when it cannot decide: a missing marker with no positive one is unknown, not false', () => {
    expect(run(null, 'negative', true, false)).toBeNull();
    expect(run(null, null, true, false)).toBeNull();
    // one positive marker is enough even if the other is missing
    expect(run(null, 'positive', true, false)).toBe(true);
    // and no order decides "false" whatever the serology
    expect(run(null, null, false, false)).toBe(false);
  });
  it('says why it fired', () => {
    const r = evaluateRule(spec, {
      hbsag: 'negative',
      anti_hbc: 'positive',
      immunosuppressant_order: false,
      chemotherapy_order: true,
    });
    expect(r.reasons).toEqual(['anti_hbc = positive (eq positive)', 'chemotherapy_order is present']);
  });
});

describe('rule validation', () => {
  const base = (rule: unknown) => ({
    features: [
      { name: 'x', kind: 'numeric' },
      { name: 'c', kind: 'categorical' },
    ],
    output: { kind: 'boolean', rule },
  });
  it('accepts comparisons, in, present, all/any/not', () => {
    const s = parseRuleSpec(
      base({
        all: [{ feature: 'x', op: 'ge', value: 7 }, { not: { feature: 'c', in: ['a', 'b'] } }, { present: 'x' }],
      }),
    );
    expect(evaluateRule(s, { x: 8, c: 'z' }).output).toBe(true);
    expect(evaluateRule(s, { x: 6, c: 'z' }).output).toBe(false);
    expect(evaluateRule(s, { x: 8, c: 'a' }).output).toBe(false);
  });
  it('refuses anything that is not the expression language (no code, no unknown keys)', () => {
    expect(code(() => parseRuleSpec(base({ $where: 'process.exit()' })))).toBe('RULE_INVALID');
    expect(code(() => parseRuleSpec(base('x > 1')))).toBe('RULE_INVALID');
    expect(code(() => parseRuleSpec(base({ feature: 'x', op: 'matches', value: '.*' })))).toBe('RULE_INVALID');
    expect(code(() => parseRuleSpec(base({ feature: 'x', op: 'eq', value: 1, extra: 1 })))).toBe('RULE_INVALID');
  });
  it('refuses undeclared features and numeric comparisons of categories', () => {
    expect(code(() => parseRuleSpec(base({ feature: 'y', op: 'eq', value: 1 })))).toBe('RULE_UNKNOWN_FEATURE');
    expect(code(() => parseRuleSpec(base({ feature: 'c', op: 'gt', value: 1 })))).toBe('RULE_INVALID');
  });
  it('limits depth', () => {
    let e: RuleExpr = { present: 'x' };
    for (let i = 0; i < 20; i++) e = { not: e };
    expect(code(() => parseRuleSpec(base(e)))).toBe('RULE_TOO_LARGE');
  });
  it('category rules take the first matching case, and stop at an undecidable one', () => {
    const s = parseRuleSpec({
      features: [{ name: 'a1c', kind: 'numeric' }],
      output: {
        kind: 'category',
        cases: [
          { when: { feature: 'a1c', op: 'ge', value: 9 }, category: 'poor' },
          { when: { feature: 'a1c', op: 'ge', value: 7 }, category: 'fair' },
        ],
        otherwise: 'good',
      },
    });
    expect(evaluateRule(s, { a1c: 9.5 }).output).toBe('poor');
    expect(evaluateRule(s, { a1c: 7.5 }).output).toBe('fair');
    expect(evaluateRule(s, { a1c: 6 }).output).toBe('good');
    expect(evaluateRule(s, { a1c: null }).output).toBeNull();
  });
});
