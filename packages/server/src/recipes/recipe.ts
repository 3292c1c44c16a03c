// What a recipe is: a named, versioned transform with a zod parameter schema and declared input roles that turns
// input tables into one output CSV (plus a JSON report). Built-in recipes register in registry.ts.
import type { z } from 'zod';
import type { InputTable } from './table.js';

export interface RecipeInputRole {
  role: string;
  description: string;
  required: boolean;
}

export interface RecipeContext<P> {
  inputs: Record<string, InputTable>;
  params: P;
  signal: AbortSignal;
  progress(p: { stage: string; [k: string]: unknown }): Promise<void>;
}

export interface RecipeOutput {
  /** UTF-8 CSV, byte-stable for the same inputs and parameters (sorted rows, fixed number formats). */
  csv: string;
  rows: number;
  report: Record<string, unknown>;
}

export interface Recipe<S extends z.ZodType = z.ZodType> {
  name: string;
  /** Bumped whenever the output for the same inputs and parameters could change. */
  version: string;
  description: string;
  inputs: readonly RecipeInputRole[];
  params: S;
  run(ctx: RecipeContext<z.infer<S>>): Promise<RecipeOutput>;
}

/** Identity helper that keeps the parameter type attached to `run`. */
export function defineRecipe<S extends z.ZodType>(r: Recipe<S>): Recipe<S> {
  return r;
}
