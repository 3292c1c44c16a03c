// Declarative rule models: a small, validated JSON expression tree (all/any/not, comparisons, `in`, present) over
// mapped features, evaluated in three-valued logic so a missing value never silently counts as "false".
import { z } from 'zod';
import { badRequest } from '../errors.js';

export type Scalar = number | string | boolean;
export type Value = Scalar | null;

export type RuleExpr =
  | { all: RuleExpr[] }
  | { any: RuleExpr[] }
  | { not: RuleExpr }
  | { feature: string; op: 'eq' | 'ne' | 'lt' | 'le' | 'gt' | 'ge'; value: Scalar }
  | { feature: string; in: Scalar[] }
  | { present: string };

const scalar = z.union([z.number().finite(), z.string().max(200), z.boolean()]);
const MAX_NODES = 200;
const MAX_DEPTH = 12;

export const ruleExprSchema: z.ZodType<RuleExpr> = z.lazy(() =>
  z.union([
    z.object({ all: z.array(ruleExprSchema).min(1).max(50) }).strict(),
    z.object({ any: z.array(ruleExprSchema).min(1).max(50) }).strict(),
    z.object({ not: ruleExprSchema }).strict(),
    z
      .object({ feature: z.string().min(1).max(128), op: z.enum(['eq', 'ne', 'lt', 'le', 'gt', 'ge']), value: scalar })
      .strict(),
    z.object({ feature: z.string().min(1).max(128), in: z.array(scalar).min(1).max(100) }).strict(),
    z.object({ present: z.string().min(1).max(128) }).strict(),
  ]),
);

const featureSchema = z
  .object({
    name: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,127}$/, 'feature names are identifiers'),
    kind: z.enum(['numeric', 'categorical', 'boolean']),
    label: z.string().max(200).optional(),
  })
  .strict();

/** A rule model's definition. The output is a boolean (`rule`) or the first matching category (`categories`). */
export const ruleSpecSchema = z
  .object({
    features: z.array(featureSchema).min(1).max(200),
    output: z.discriminatedUnion('kind', [
      z.object({ kind: z.literal('boolean'), rule: ruleExprSchema }).strict(),
      z
        .object({
          kind: z.literal('category'),
          cases: z
            .array(z.object({ when: ruleExprSchema, category: z.string().min(1).max(100) }).strict())
            .min(1)
            .max(50),
          otherwise: z.string().min(1).max(100).nullable(),
        })
        .strict(),
    ]),
  })
  .strict();

export type RuleSpec = z.infer<typeof ruleSpecSchema>;

/** Parses and checks a rule: schema, size and depth limits, every referenced feature declared. */
export function parseRuleSpec(raw: unknown): RuleSpec {
  const r = ruleSpecSchema.safeParse(raw);
  if (!r.success) {
    const i = r.error.issues[0]!;
    throw badRequest('RULE_INVALID', `the rule is not valid at ${i.path.join('.') || '(root)'}: ${i.message}`);
  }
  const spec = r.data;
  const declared = new Map(spec.features.map((f) => [f.name, f.kind]));
  if (declared.size !== spec.features.length) throw badRequest('RULE_INVALID', 'a feature is declared twice');
  let nodes = 0;
  const walk = (e: RuleExpr, depth: number, at: string): void => {
    nodes++;
    if (nodes > MAX_NODES) throw badRequest('RULE_TOO_LARGE', `a rule may have at most ${MAX_NODES} nodes`);
    if (depth > MAX_DEPTH) throw badRequest('RULE_TOO_LARGE', `a rule may nest at most ${MAX_DEPTH} levels`);
    if ('all' in e) e.all.forEach((x, i) => walk(x, depth + 1, `${at}.all[${i}]`));
    else if ('any' in e) e.any.forEach((x, i) => walk(x, depth + 1, `${at}.any[${i}]`));
    else if ('not' in e) walk(e.not, depth + 1, `${at}.not`);
    else {
      const f = 'present' in e ? e.present : e.feature;
      const kind = declared.get(f);
      if (!kind) throw badRequest('RULE_UNKNOWN_FEATURE', `${at} uses feature "${f}", which the rule does not declare`);
      if ('op' in e && ['lt', 'le', 'gt', 'ge'].includes(e.op) && (kind !== 'numeric' || typeof e.value !== 'number'))
        throw badRequest('RULE_INVALID', `${at}: "${e.op}" compares numbers; "${f}" is ${kind}`);
    }
  };
  if (spec.output.kind === 'boolean') walk(spec.output.rule, 0, 'rule');
  else spec.output.cases.forEach((c, i) => walk(c.when, 0, `cases[${i}]`));
  return spec;
}

/** Three-valued truth: true, false, or null (unknown because a value is missing). */
export type Truth = boolean | null;

export interface RuleResult {
  /** true/false (boolean rules) or a category; null when the rule cannot decide from the data. */
  output: boolean | string | null;
  /** The comparisons that held, in words: why the rule fired. */
  reasons: string[];
}

const sameValue = (a: Value, b: Scalar): boolean => {
  if (a === null) return false;
  if (typeof a === typeof b) return a === b;
  // Mapped values may arrive as strings ("1") or booleans for numeric features; compare on their number.
  const na = typeof a === 'boolean' ? Number(a) : Number(a);
  const nb = typeof b === 'boolean' ? Number(b) : Number(b);
  return Number.isFinite(na) && Number.isFinite(nb) && na === nb;
};

function evalExpr(e: RuleExpr, row: Record<string, Value>, why: string[]): Truth {
  if ('all' in e) {
    let unknown = false;
    const mine: string[] = [];
    for (const x of e.all) {
      const t = evalExpr(x, row, mine);
      if (t === false) return false;
      if (t === null) unknown = true;
    }
    if (unknown) return null;
    why.push(...mine);
    return true;
  }
  if ('any' in e) {
    let unknown = false;
    for (const x of e.any) {
      const mine: string[] = [];
      const t = evalExpr(x, row, mine);
      if (t === true) {
        why.push(...mine);
        return true;
      }
      if (t === null) unknown = true;
    }
    return unknown ? null : false;
  }
  if ('not' in e) {
    const t = evalExpr(e.not, row, []);
    return t === null ? null : !t;
  }
  if ('present' in e) {
    const v = row[e.present];
    const has = v !== null && v !== undefined && v !== false;
    if (has) why.push(`${e.present} is present`);
    return has;
  }
  const v = row[e.feature] ?? null;
  if (v === null) return null;
  let t: boolean;
  if ('in' in e) {
    t = e.in.some((x) => sameValue(v, x));
    if (t) why.push(`${e.feature} = ${String(v)}`);
    return t;
  }
  const x = Number(v);
  switch (e.op) {
    case 'eq':
      t = sameValue(v, e.value);
      break;
    case 'ne':
      t = !sameValue(v, e.value);
      break;
    case 'lt':
      t = x < (e.value as number);
      break;
    case 'le':
      t = x <= (e.value as number);
      break;
    case 'gt':
      t = x > (e.value as number);
      break;
    case 'ge':
      t = x >= (e.value as number);
      break;
  }
  if (!Number.isFinite(x) && ['lt', 'le', 'gt', 'ge'].includes(e.op)) return null;
  if (t) why.push(`${e.feature} = ${String(v)} (${e.op} ${String(e.value)})`);
  return t;
}

/** Evaluates a rule on one row of mapped features; never executes code, only walks the validated tree. */
export function evaluateRule(spec: RuleSpec, row: Record<string, Value>): RuleResult {
  if (spec.output.kind === 'boolean') {
    const why: string[] = [];
    const t = evalExpr(spec.output.rule, row, why);
    return { output: t, reasons: t ? why : [] };
  }
  for (const c of spec.output.cases) {
    const why: string[] = [];
    const t = evalExpr(c.when, row, why);
    if (t === true) return { output: c.category, reasons: why };
    // An undecidable earlier case means a later one cannot safely be chosen.
    if (t === null) return { output: null, reasons: [] };
  }
  return { output: spec.output.otherwise, reasons: [] };
}
