// Operator routes for vehicle groups and campaigns (mounted under /api/v1 behind the operator token).
// Bodies are checked here, at the boundary; decisions are the Campaigns service's.
import express, { type Request, type Router } from 'express';
import { BadRequestError } from '../shared/core/errors.js';
import type { GroupFilter } from './store/campaigns.js';
import { checkSpec, exponentialStages, whitePaperStages, type Campaigns, type CampaignSpec, type HaltRules, type StageSpec } from './campaigns.js';
import { attributes, flag, LIMITS, list, number, object, optional, pathText, quote, text, texts } from './operator-input.js';

type OperatorRequest = Request & { operator?: string };

const shareOf = (value: unknown, what: string) => number(value, what, 0, 1);
const durationOf = (value: unknown, what: string) => number(value, what, 0, LIMITS.durationMs, true);
const countOf = (value: unknown, what: string) => number(value, what, 1, LIMITS.count, true);

/**
 * A dynamic group's filter. Its attribute terms are bounded like a vehicle's attributes (a filter
 * naming more could match nothing): 1,100 terms once made SQLite refuse the query after the group
 * was stored (docs/threat-model.md HR-9b).
 */
function parseFilter(raw: unknown): GroupFilter {
  const filter = object(raw, 'filter');
  const attributeTerms = optional(filter.attributes, (v) => attributes(v, 'filter.attributes'));
  const hardwareId = optional(filter.hardwareId, (v) => text(v, 'filter.hardwareId', LIMITS.serial));
  const installedImage = optional(filter.installedImage, (v) => text(v, 'filter.installedImage', LIMITS.image));
  return {
    ...(attributeTerms === undefined ? {} : { attributes: attributeTerms }),
    ...(hardwareId === undefined ? {} : { hardwareId }),
    ...(installedImage === undefined ? {} : { installedImage }),
  };
}

/** The stages: explicit, the white paper preset, or an exponential ramp; never more than LIMITS.stages. */
function parseStages(body: Record<string, unknown>): StageSpec[] {
  const ways = [body.stages, body.preset, body.ramp].filter((v) => v !== undefined).length;
  if (ways !== 1) throw new BadRequestError('give the stages one way: stages (a list), preset "white-paper", or ramp {first, factor}');
  if (body.preset !== undefined) {
    if (body.preset !== 'white-paper') throw new BadRequestError(`preset ${quote(body.preset)} is unknown: the one preset is "white-paper"`);
    return whitePaperStages();
  }
  if (body.ramp !== undefined) {
    const ramp = object(body.ramp, 'ramp');
    // exponentialStages refuses a ramp of more than LIMITS.stages stages before generating them (HR-7).
    return exponentialStages(
      number(ramp.first, 'ramp.first', 0, 1),
      number(ramp.factor, 'ramp.factor', 0, Number.MAX_VALUE),
      optional(ramp.minSoakMs, (v) => durationOf(v, 'ramp.minSoakMs')) ?? 0,
    );
  }
  return list(body.stages, 'stages', LIMITS.stages).map((raw, i) => {
    const stage = object(raw, `stages[${i}]`);
    const spec: StageSpec = {
      share: optional(stage.share, (v) => shareOf(v, `stages[${i}].share`)),
      count: optional(stage.count, (v) => countOf(v, `stages[${i}].count`)),
      startAfterMs: optional(stage.startAfterMs, (v) => durationOf(v, `stages[${i}].startAfterMs`)),
      minSoakMs: optional(stage.minSoakMs, (v) => durationOf(v, `stages[${i}].minSoakMs`)),
      successThreshold: optional(stage.successThreshold, (v) => shareOf(v, `stages[${i}].successThreshold`)),
    };
    return Object.fromEntries(Object.entries(spec).filter(([, v]) => v !== undefined)) as StageSpec;
  });
}

function parseHalt(raw: unknown): HaltRules {
  const halt = object(raw, 'halt');
  const rules: { -readonly [K in keyof HaltRules]: HaltRules[K] } = {};
  if (halt.maxFailureRate !== undefined) rules.maxFailureRate = shareOf(halt.maxFailureRate, 'halt.maxFailureRate');
  if (halt.minSample !== undefined) rules.minSample = countOf(halt.minSample, 'halt.minSample');
  if (halt.maxFailures !== undefined) rules.maxFailures = countOf(halt.maxFailures, 'halt.maxFailures');
  if (halt.onAttack !== undefined) rules.onAttack = flag(halt.onAttack, 'halt.onAttack');
  return rules;
}

export function parseCampaignSpec(raw: unknown): CampaignSpec {
  const body = object(raw, 'the request body');
  const images = list(body.images, 'images', LIMITS.images).map((item, i) => {
    const image = object(item, `images[${i}]`);
    return { hardwareId: text(image.hardwareId, `images[${i}].hardwareId`, LIMITS.serial), image: text(image.image, `images[${i}].image`, LIMITS.image) };
  });
  const halt = optional(body.halt, parseHalt);
  const window = optional(body.maintenanceWindow, (v) => object(v, 'maintenanceWindow'));
  const spec: CampaignSpec = {
    images,
    stages: parseStages(body),
    ...(halt === undefined ? {} : { halt }),
    includeNewVehicles: optional(body.includeNewVehicles, (v) => flag(v, 'includeNewVehicles')) === true,
    ...(window === undefined
      ? {}
      : {
          maintenanceWindow: {
            startHour: number(window.startHour, 'maintenanceWindow.startHour', 0, 24, true),
            endHour: number(window.endHour, 'maintenanceWindow.endHour', 0, 24, true),
          },
        }),
  };
  checkSpec(spec);
  return spec;
}

const groupName = (raw: unknown) => pathText(raw, 'the group name', LIMITS.name);
const campaignName = (raw: unknown) => pathText(raw, 'the campaign name or id', LIMITS.name);

export function campaignRoutes(campaigns: Campaigns, jsonBody: express.RequestHandler): Router {
  const router = express.Router();

  router.post('/groups', jsonBody, async (req: OperatorRequest, res) => {
    const body = object(req.body, 'the request body');
    const name = text(body.name, 'name', LIMITS.name);
    if ((body.vins === undefined) === (body.filter === undefined)) throw new BadRequestError('a group is either a list of VINs (vins) or a filter (filter)');
    const members = body.vins !== undefined ? { vins: texts(body.vins, 'vins', LIMITS.vins, LIMITS.name) } : { filter: parseFilter(body.filter) };
    res.status(201).json(await campaigns.createGroup(name, members, req.operator!));
  });

  router.get('/groups', async (_req, res) => {
    res.json({ groups: await campaigns.groups() });
  });

  router.get('/groups/:name', async (req, res) => {
    const name = groupName(req.params.name);
    res.json({ name, members: await campaigns.members(name) });
  });

  router.post('/campaigns', jsonBody, async (req: OperatorRequest, res) => {
    const body = object(req.body, 'the request body');
    const created = await campaigns.create(text(body.name, 'name', LIMITS.name), text(body.group, 'group', LIMITS.name), parseCampaignSpec(body), req.operator!);
    res.status(201).json(await campaigns.status(String(created.id)));
  });

  router.get('/campaigns', async (_req, res) => {
    res.json({ campaigns: await campaigns.list() });
  });

  router.get('/campaigns/:campaign', async (req, res) => {
    res.json(await campaigns.status(campaignName(req.params.campaign)));
  });

  router.post('/campaigns/:campaign/:action', jsonBody, async (req: OperatorRequest, res) => {
    const campaign = await campaigns.byName(campaignName(req.params.campaign));
    const actor = req.operator!;
    switch (req.params.action) {
      case 'start':
        await campaigns.start(campaign.id, actor);
        break;
      case 'pause':
        await campaigns.pause(campaign.id, actor);
        break;
      case 'resume':
        await campaigns.resume(campaign.id, actor);
        break;
      case 'advance':
        await campaigns.advance(campaign.id, actor);
        break;
      case 'abort':
        await campaigns.abort(campaign.id, actor);
        break;
      default:
        throw new BadRequestError(`unknown action ${quote(req.params.action)}: start, pause, resume, advance or abort`);
    }
    res.json(await campaigns.status(String(campaign.id)));
  });

  return router;
}
