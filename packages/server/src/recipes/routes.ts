// HTTP routes for recipes: the catalogue (with parameter JSON schemas), starting a run, and following runs.
import { z } from 'zod';
import { API, requirePrincipal, type TypedApp } from '../http/app.js';
import type { Platform } from '../platform.js';

const proj = z.object({ project: z.string().max(300) });
const recipeParams = proj.extend({ recipe: z.string().max(100) });
const runParams = proj.extend({ run: z.string().max(64) });

export function registerRecipeRoutes(app: TypedApp, platform: Platform): void {
  const { projects, recipes } = platform;

  app.get(
    `${API}/recipes`,
    { schema: { tags: ['recipes'], description: 'Built-in recipes and their parameters.' } },
    async (req) => {
      await requirePrincipal(platform, req);
      return { recipes: recipes.list() };
    },
  );

  app.get(`${API}/projects/:project/recipes`, { schema: { tags: ['recipes'], params: proj } }, async (req) => {
    const p = await requirePrincipal(platform, req);
    await projects.access(p, req.params.project, 'project.read');
    return { recipes: recipes.list() };
  });

  app.get(
    `${API}/projects/:project/recipes/:recipe`,
    { schema: { tags: ['recipes'], params: recipeParams } },
    async (req) => {
      const p = await requirePrincipal(platform, req);
      await projects.access(p, req.params.project, 'project.read');
      return recipes.get(req.params.recipe);
    },
  );

  app.post(
    `${API}/projects/:project/recipes/:recipe/runs`,
    {
      schema: {
        tags: ['recipes'],
        params: recipeParams,
        body: z.record(z.string(), z.unknown()),
        description:
          'Run a recipe: {inputs: {role: {dataset, version}}, params: {...}, output: dataset}. 202 with a new run, 200 with the existing run for the same recipe, inputs, parameters and output.',
      },
    },
    async (req, reply) => {
      const p = await requirePrincipal(platform, req);
      const a = await projects.access(p, req.params.project, 'recipe.run');
      const r = await recipes.run(p, a, req.params.recipe, req.body, req.ip);
      return reply.status(r.created ? 202 : 200).send(r);
    },
  );

  app.get(
    `${API}/projects/:project/recipe-runs`,
    {
      schema: {
        tags: ['recipes'],
        params: proj,
        querystring: z.object({
          recipe: z.string().max(100).optional(),
          limit: z.coerce.number().int().min(1).max(500).optional(),
        }),
      },
    },
    async (req) => {
      const p = await requirePrincipal(platform, req);
      const a = await projects.access(p, req.params.project, 'dataset.metadata');
      return { runs: await recipes.listRuns(a, req.query) };
    },
  );

  app.get(
    `${API}/projects/:project/recipe-runs/:run`,
    { schema: { tags: ['recipes'], params: runParams } },
    async (req) => {
      const p = await requirePrincipal(platform, req);
      const a = await projects.access(p, req.params.project, 'dataset.metadata');
      return recipes.getRun(a, req.params.run);
    },
  );

  app.post(
    `${API}/projects/:project/recipe-runs/:run/cancel`,
    { schema: { tags: ['recipes'], params: runParams } },
    async (req) => {
      const p = await requirePrincipal(platform, req);
      const a = await projects.access(p, req.params.project, 'recipe.run');
      return recipes.cancelRun(p, a, req.params.run, req.ip);
    },
  );
}
