// Operator routes for vehicle groups and campaigns (mounted under /api/v1 behind the operator token).
// Bodies are checked at the boundary (operator-input.ts); decisions are the Campaigns service's.
import express, { type Router } from 'express';
import { BadRequestError } from '../shared/core/errors.js';
import { campaignSpecOf, type Campaigns } from './campaigns.js';
import { LIMITS, parseCampaign, parseGroup, pathText, quote } from './operator-input.js';
import { operatorRoute } from './operator-routes.js';
import type { CampaignDryRun } from './api/operator-api.js';

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

  operatorRoute(router, 'GET /campaigns/:campaign', undefined, async (req) => ({ answer: await campaigns.status(campaignName(req.params.campaign)) }));

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
        throw new BadRequestError(`unknown action ${quote(req.params.action)}: start, pause, resume, advance or abort`);
    }
    return { answer: await campaigns.status(String(campaign.id)) };
  });

  return router;
}
