// Operator routes for vehicle groups and campaigns (mounted under /api/v1 behind the operator token).
// Bodies are checked at the boundary (operator-input.ts); decisions are the Campaigns service's.
import express, { type Router } from 'express';
import { BadRequestError } from '../shared/core/errors.js';
import { campaignSpecOf, DEFAULT_VIN_SAMPLE, type Campaigns } from './campaigns.js';
import { LIMITS, object, optional, parseCampaign, parseGroup, pathText, queryInteger, queryText, quote, texts } from './operator-input.js';
import { operatorRoute } from './operator-routes.js';
import { CAMPAIGN_VEHICLE_OUTCOMES, type CampaignDryRun, type CampaignVehicleOutcome } from './api/operator-api.js';

const groupName = (raw: unknown) => pathText(raw, 'the group name', LIMITS.name);
const campaignName = (raw: unknown) => pathText(raw, 'the campaign name or id', LIMITS.name);

/**
 * `dryRun`: answers POST /campaigns with `dryRun: true` (how many vehicles each stage would take,
 * nothing created: dashboard/fleet-routes.ts campaignDryRun); without it such a body is refused.
 */
export function campaignRoutes(campaigns: Campaigns, jsonBody: express.RequestHandler, dryRun?: (body: unknown) => Promise<CampaignDryRun>): Router {
  const router = express.Router();

  operatorRoute(router, 'POST /groups', jsonBody, async (req) => {
    const group = parseGroup(req.body);
    const members = group.vins !== undefined ? { vins: group.vins } : { filter: group.filter };
    return { status: 201, answer: await campaigns.createGroup(group.name, members, req.operator!) };
  });

  operatorRoute(router, 'GET /groups', undefined, async () => ({ answer: { groups: await campaigns.groups() } }));

  operatorRoute(router, 'GET /groups/:name', undefined, async (req) => {
    const name = groupName(req.params.name);
    return { answer: { name, members: await campaigns.members(name) } };
  });

  operatorRoute(router, 'POST /campaigns', jsonBody, async (req) => {
    const asked = req.body as Record<string, unknown> | undefined;
    if (typeof asked === 'object' && asked !== null && !Array.isArray(asked) && 'dryRun' in asked) {
      const { dryRun: flag, ...rest } = asked;
      if (flag !== true && flag !== false) throw new BadRequestError('dryRun must be true or false');
      if (flag === true) {
        if (dryRun === undefined) throw new BadRequestError('this Director does not answer campaign dry runs');
        return { answer: await dryRun(rest) };
      }
      req.body = rest;
    }
    const body = parseCampaign(req.body);
    const created = await campaigns.create(body.name, body.group, campaignSpecOf(body), req.operator!);
    return { status: 201, answer: await campaigns.status(String(created.id)) };
  });

  operatorRoute(router, 'GET /campaigns', undefined, async () => ({ answer: { campaigns: await campaigns.list() } }));

  operatorRoute(router, 'GET /campaigns/:campaign', undefined, async (req) => ({
    answer: await campaigns.status(campaignName(req.params.campaign), queryInteger(req.query, 'vins', { min: 0, max: LIMITS.pageRows, fallback: DEFAULT_VIN_SAMPLE })),
  }));

  // Counts are in the status; this pages through the VINs behind them, each with its reason.
  operatorRoute(router, 'GET /campaigns/:campaign/vehicles', undefined, async (req) => {
    const stage = queryInteger(req.query, 'stage', { min: 0, max: LIMITS.stages, fallback: 0 });
    const outcome = queryText(req.query, 'outcome', 16);
    if (outcome !== undefined && !(CAMPAIGN_VEHICLE_OUTCOMES as readonly string[]).includes(outcome)) {
      throw new BadRequestError(`query parameter outcome must be one of ${CAMPAIGN_VEHICLE_OUTCOMES.join(', ')}; got ${quote(outcome)}`);
    }
    const filter = {
      stage: stage === 0 ? undefined : stage,
      outcome: outcome as CampaignVehicleOutcome | undefined,
      after: queryText(req.query, 'after', LIMITS.name),
      limit: queryInteger(req.query, 'limit', { min: 1, max: LIMITS.pageRows, fallback: 100 }),
    };
    return { answer: await campaigns.vehiclePage(campaignName(req.params.campaign), filter) };
  });

  // Before the :action route below, which would take `retry` for an action name.
  operatorRoute(router, 'POST /campaigns/:campaign/retry', jsonBody, async (req) => {
    const campaign = await campaigns.byName(campaignName(req.params.campaign));
    const body = req.body === undefined ? {} : object(req.body, 'the request body');
    const vins = optional(body.vins, (v) => texts(v, 'vins', LIMITS.vins, LIMITS.name));
    const outcome = await campaigns.retry(campaign.id, vins, req.operator!);
    return { answer: { ...outcome, status: await campaigns.status(String(campaign.id)) } };
  });

  operatorRoute(router, 'POST /campaigns/:campaign/:action', jsonBody, async (req) => {
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
        throw new BadRequestError(`unknown action ${quote(req.params.action)}: start, pause, resume, advance, abort or retry`);
    }
    return { answer: await campaigns.status(String(campaign.id)) };
  });

  return router;
}
