// Operator routes for vehicle groups and campaigns (mounted under /api/v1 behind the operator token).
// Bodies are checked here, at the boundary; decisions are the Campaigns service's.
import express, { type Request, type Router } from 'express';
import { BadRequestError } from '../shared/errors.js';
import type { GroupFilter } from './campaign-storage.js';
import { checkSpec, exponentialStages, whitePaperStages, type Campaigns, type CampaignSpec, type StageSpec } from './campaigns.js';

type OperatorRequest = Request & { operator?: string };

function object(value: unknown, what: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new BadRequestError(`${what} must be a JSON object`);
  return value as Record<string, unknown>;
}

function text(body: Record<string, unknown>, name: string): string {
  const value = body[name];
  if (typeof value !== 'string' || value.length === 0) throw new BadRequestError(`${name} must be a non-empty string`);
  return value;
}

function parseFilter(raw: unknown): GroupFilter {
  const filter = object(raw, 'filter');
  const attributes = filter.attributes === undefined ? undefined : object(filter.attributes, 'filter.attributes');
  if (attributes !== undefined && Object.values(attributes).some((v) => typeof v !== 'string')) throw new BadRequestError('filter.attributes values must be strings');
  for (const key of ['hardwareId', 'installedImage'] as const) {
    if (filter[key] !== undefined && typeof filter[key] !== 'string') throw new BadRequestError(`filter.${key} must be a string`);
  }
  return {
    ...(attributes === undefined ? {} : { attributes: attributes as Record<string, string> }),
    ...(filter.hardwareId === undefined ? {} : { hardwareId: filter.hardwareId as string }),
    ...(filter.installedImage === undefined ? {} : { installedImage: filter.installedImage as string }),
  };
}

/** The stages: explicit, the white paper preset, or an exponential ramp. */
function parseStages(body: Record<string, unknown>): StageSpec[] {
  if (body.preset === 'white-paper') return whitePaperStages();
  if (body.ramp !== undefined) {
    const ramp = object(body.ramp, 'ramp');
    return exponentialStages(Number(ramp.first), Number(ramp.factor), ramp.minSoakMs === undefined ? 0 : Number(ramp.minSoakMs));
  }
  if (!Array.isArray(body.stages)) throw new BadRequestError('give stages (a list), preset "white-paper", or ramp {first, factor}');
  return body.stages.map((raw, i) => {
    const stage = object(raw, `stages[${i}]`);
    const number = (name: string) => {
      const value = stage[name];
      if (value !== undefined && typeof value !== 'number') throw new BadRequestError(`stages[${i}].${name} must be a number`);
      return value as number | undefined;
    };
    const spec: StageSpec = {
      share: number('share'),
      count: number('count'),
      startAfterMs: number('startAfterMs'),
      minSoakMs: number('minSoakMs'),
      successThreshold: number('successThreshold'),
    };
    return Object.fromEntries(Object.entries(spec).filter(([, v]) => v !== undefined)) as StageSpec;
  });
}

export function parseCampaignSpec(raw: unknown): CampaignSpec {
  const body = object(raw, 'the request body');
  if (!Array.isArray(body.images)) throw new BadRequestError('images must be a list of {hardwareId, image}');
  const images = body.images.map((item, i) => {
    const image = object(item, `images[${i}]`);
    return { hardwareId: text(image, 'hardwareId'), image: text(image, 'image') };
  });
  const halt = body.halt === undefined ? undefined : object(body.halt, 'halt');
  const window = body.maintenanceWindow === undefined ? undefined : object(body.maintenanceWindow, 'maintenanceWindow');
  const spec: CampaignSpec = {
    images,
    stages: parseStages(body),
    ...(halt === undefined
      ? {}
      : {
          halt: {
            ...(halt.maxFailureRate === undefined ? {} : { maxFailureRate: Number(halt.maxFailureRate) }),
            ...(halt.minSample === undefined ? {} : { minSample: Number(halt.minSample) }),
            ...(halt.maxFailures === undefined ? {} : { maxFailures: Number(halt.maxFailures) }),
            ...(halt.onAttack === undefined ? {} : { onAttack: halt.onAttack === true }),
          },
        }),
    includeNewVehicles: body.includeNewVehicles === true,
    ...(window === undefined ? {} : { maintenanceWindow: { startHour: Number(window.startHour), endHour: Number(window.endHour) } }),
  };
  checkSpec(spec);
  return spec;
}

export function campaignRoutes(campaigns: Campaigns, jsonBody: express.RequestHandler): Router {
  const router = express.Router();

  router.post('/groups', jsonBody, (req: OperatorRequest, res) => {
    const body = object(req.body, 'the request body');
    const name = text(body, 'name');
    if (body.vins !== undefined && (!Array.isArray(body.vins) || body.vins.some((v) => typeof v !== 'string'))) throw new BadRequestError('vins must be a list of strings');
    const members = body.vins !== undefined ? { vins: body.vins as string[] } : { filter: parseFilter(body.filter) };
    res.status(201).json(campaigns.createGroup(name, members, req.operator!));
  });

  router.get('/groups', (_req, res) => {
    res.json({ groups: campaigns.groups() });
  });

  router.get('/groups/:name', (req, res) => {
    res.json({ name: req.params.name, members: campaigns.members(String(req.params.name)) });
  });

  router.post('/campaigns', jsonBody, (req: OperatorRequest, res) => {
    const body = object(req.body, 'the request body');
    const created = campaigns.create(text(body, 'name'), text(body, 'group'), parseCampaignSpec(body), req.operator!);
    res.status(201).json(campaigns.status(String(created.id)));
  });

  router.get('/campaigns', (_req, res) => {
    res.json({ campaigns: campaigns.list() });
  });

  router.get('/campaigns/:campaign', (req, res) => {
    res.json(campaigns.status(String(req.params.campaign)));
  });

  router.post('/campaigns/:campaign/:action', jsonBody, async (req: OperatorRequest, res) => {
    const campaign = campaigns.byName(String(req.params.campaign));
    const actor = req.operator!;
    switch (req.params.action) {
      case 'start':
        await campaigns.start(campaign.id, actor);
        break;
      case 'pause':
        campaigns.pause(campaign.id, actor);
        break;
      case 'resume':
        campaigns.resume(campaign.id, actor);
        break;
      case 'advance':
        campaigns.advance(campaign.id, actor);
        break;
      case 'abort':
        campaigns.abort(campaign.id, actor);
        break;
      default:
        throw new BadRequestError(`unknown action ${String(req.params.action)}: start, pause, resume, advance or abort`);
    }
    res.json(campaigns.status(String(campaign.id)));
  });

  return router;
}
