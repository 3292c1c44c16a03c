// The built-in recipes by name, and their public description (parameter JSON schema included) for the API and CLI.
import { z } from 'zod';
import { notFound } from '../errors.js';
import { printable } from '../auth/service.js';
import { hba1cControlPeriods } from './hba1c/recipe.js';
import type { Recipe, RecipeInputRole } from './recipe.js';

export type RecipeRegistry = ReadonlyMap<string, Recipe>;

export function builtinRecipes(): RecipeRegistry {
  const list: Recipe[] = [hba1cControlPeriods as unknown as Recipe];
  return new Map(list.map((r) => [r.name, r]));
}

export interface RecipeInfo {
  name: string;
  version: string;
  description: string;
  inputs: RecipeInputRole[];
  /** JSON schema of the parameters as a caller writes them (defaults shown, all optional where defaulted). */
  paramsSchema: unknown;
}

export function describeRecipe(r: Recipe): RecipeInfo {
  return {
    name: r.name,
    version: r.version,
    description: r.description,
    inputs: [...r.inputs],
    paramsSchema: z.toJSONSchema(r.params, { io: 'input', unrepresentable: 'any' }),
  };
}

export function requireRecipe(registry: RecipeRegistry, name: string): Recipe {
  const r = registry.get(name);
  if (!r)
    throw notFound(
      'RECIPE_NOT_FOUND',
      `no recipe "${printable(name)}"; recipes are: ${[...registry.keys()].sort().join(', ')}`,
    );
  return r;
}
