// The operator API's reads for the web dashboard (docs/dashboard.md), mounted on the operator router
// behind the token or cookie check: the fleet overview, vehicles filtered by state and VIN prefix,
// a vehicle's manifest history, reported attacks, the Image repository's images, the audit log with
// filters and the live event stream; and a campaign's dry run, which POST /campaigns answers. Every list is one page of a bounded size
// read by an indexed query; every filter is checked (400 bad_request) before it reaches SQL.
import type { Request, Response, Router } from 'express';
import { BadRequestError, NotFoundError } from '../../shared/core/errors.js';
import { minimumProfileOf } from '../../shared/core/security-profile.js';
import type { CampaignDryRun, CatalogImage, FleetState } from '../api/operator-api.js';
import { campaignSpecOf, type Campaigns } from '../campaigns.js';
import type { DirectorServices } from '../director.js';
import { LIMITS, parseCampaign, pathText, queryInteger, queryText } from '../operator-input.js';
import { operatorRoute } from '../operator-routes.js';
import { planResolved } from '../services/assignments.js';
import { FLEET_STATES, type VehicleFilter } from '../store/dashboard.js';
import type { DirectorStorage } from '../store/director-store.js';
import type { DashboardEvents } from './events.js';
import type { FleetOverview } from './fleet-overview.js';

export interface DashboardRouteDeps {
  readonly services: DirectorServices;
  readonly storage: DirectorStorage;
  readonly overview: FleetOverview;
  readonly events: DashboardEvents;
}

/** Longest page of any list (as the operator API's other lists). */
const PAGE_ROWS = LIMITS.pageRows;
/** A VIN prefix filter's count stops here: the list pages on, the total says "more than". */
export const PREFIX_COUNT_CAP = 10_000;
/** Largest group whose vehicles a dry run checks one by one for skips (reads their ECUs and assignments). */
export const DRY_RUN_CHECK_LIMIT = 20_000;
const DRY_RUN_BATCH = 1_000;
/** Printable ASCII without space: VINs, names and actions as the Director stores them. */
const FILTER_TEXT = /^[\x21-\x7e]+$/;

/** The vehicles routes' and the audit route's filters, checked. */
function filterText(query: Request['query'], name: string, max: number): string | undefined {
  const value = queryText(query, name, max);
  if (value === undefined || value === '') return undefined;
  if (!FILTER_TEXT.test(value)) throw new BadRequestError(`query parameter ${name} must be printable ASCII without spaces`);
  return value;
}

function stateFilter(query: Request['query']): FleetState | undefined {
  const value = queryText(query, 'state', 16);
  if (value === undefined || value === '') return undefined;
  if (!(FLEET_STATES as readonly string[]).includes(value)) throw new BadRequestError(`query parameter state must be one of ${FLEET_STATES.join(', ')}`);
  return value as FleetState;
}

const beforeId = (query: Request['query']) => {
  const before = queryInteger(query, 'before', { min: 0, max: Number.MAX_SAFE_INTEGER, fallback: 0 });
  return before === 0 ? undefined : before;
};
const pageLimit = (query: Request['query']) => queryInteger(query, 'limit', { min: 1, max: PAGE_ROWS, fallback: 100 });

/** GET /vehicles, GET /audit and the dashboard's routes, on the operator router. */
export function dashboardRoutes(router: Router, { services, storage, overview, events }: DashboardRouteDeps): void {
  operatorRoute(router, 'GET /fleet/overview', undefined, async () => ({ answer: await overview.overview() }));

  operatorRoute(router, 'GET /vehicles', undefined, async (req) => {
    const limit = pageLimit(req.query);
    const after = queryText(req.query, 'after', LIMITS.name) ?? '';
    const state = stateFilter(req.query);
    const prefix = filterText(req.query, 'q', LIMITS.name);
    const filter: VehicleFilter = { state, prefix, staleBefore: overview.staleBefore() };
    const vehicles = await storage.dashboard.vehiclesPage(filter, after, limit);
    // The count: every vehicle (the primary key's count), one state (the cached overview's), or a
    // prefix (counted up to a cap).
    let total: number;
    let totalCapped = false;
    if (prefix !== undefined) ({ count: total, capped: totalCapped } = await storage.dashboard.countVehicles(filter, PREFIX_COUNT_CAP));
    else if (state !== undefined) total = (await overview.overview()).vehicles.byState[state];
    else total = await storage.inventory.countVehicles();
    return { answer: { total, totalCapped, vehicles } };
  });

  operatorRoute(router, 'GET /vehicles/:vin/manifests', undefined, async (req) => {
    const vin = pathText(req.params.vin, 'the VIN', LIMITS.name);
    if ((await storage.inventory.vehicle(vin)) === undefined) throw new NotFoundError(`no vehicle ${vin}`);
    const limit = pageLimit(req.query);
    const manifests = await storage.dashboard.manifestPage(vin, limit, beforeId(req.query));
    const attacks = await storage.dashboard.attackPage({ limit: 20, vin });
    return { answer: { vin, manifests, attacks } };
  });

  operatorRoute(router, 'GET /attacks', undefined, async (req) => {
    const vin = filterText(req.query, 'vin', LIMITS.name);
    return { answer: { attacks: await storage.dashboard.attackPage({ limit: pageLimit(req.query), beforeId: beforeId(req.query), vin }) } };
  });

  operatorRoute(router, 'GET /images', undefined, async (req) => {
    const limit = pageLimit(req.query);
    const after = queryText(req.query, 'after', LIMITS.image) ?? '';
    const all = (await services.assignments.catalog()).map(({ filename, target }): CatalogImage => ({
      filename,
      length: target.length,
      sha256: target.hashes.sha256 ?? null,
      hardwareIds: [...(target.custom?.hardwareIds ?? [])],
      releaseCounter: target.custom?.releaseCounter ?? null,
      minimumSecurityProfile: minimumProfileOf(target.custom, `${filename} custom`) ?? null,
    }));
    // Sorted by name, paged by name: the list is the Image repository's signed targets, held in memory already.
    all.sort((a, b) => (a.filename < b.filename ? -1 : a.filename > b.filename ? 1 : 0));
    return { answer: { images: all.filter((i) => i.filename > after).slice(0, limit), total: all.length } };
  });

  // limit=-1 would be SQLite's "no limit", and 1.5 a type error (docs/threat-model.md HR-9c).
  operatorRoute(router, 'GET /audit', undefined, async (req) => {
    const entries = await storage.dashboard.auditPage({
      limit: pageLimit(req.query),
      beforeId: beforeId(req.query),
      actor: filterText(req.query, 'actor', LIMITS.name * 2),
      action: filterText(req.query, 'action', LIMITS.name),
    });
    return { answer: { entries } };
  });

  router.get('/events', (req: Request, res: Response) => {
    events.open(req, res);
  });
}

/**
 * How many vehicles each stage of the campaign in `body` would take now, and which it would skip:
 * POST /campaigns with `dryRun: true` (campaign-routes.ts calls it), nothing created or audited.
 */
export async function campaignDryRun(services: DirectorServices, storage: DirectorStorage, body: unknown): Promise<CampaignDryRun> {
  const parsed = parseCampaign(body);
  const spec = campaignSpecOf(parsed);
  const campaigns: Campaigns = services.campaigns;
  const members = await campaigns.members(parsed.group);
  const total = members.length;
  let before = 0;
  const stages = spec.stages.map((stage, i) => {
    // As the engine sizes a stage (campaigns.ts enterStage): cumulative, capped by the group.
    const target = Math.min(total, stage.count ?? Math.ceil((stage.share ?? 0) * total));
    const vehicles = Math.max(0, target - before);
    before = Math.max(before, target);
    return { index: i + 1, vehicles };
  });
  const skipped: Record<string, number> = {};
  const checked = total <= DRY_RUN_CHECK_LIMIT;
  if (checked) {
    // The images as the Image repository signs them (unencrypted: a dry run encrypts nothing).
    const resolved = await services.assignments.resolveImages(spec.images);
    for (let i = 0; i < members.length; i += DRY_RUN_BATCH) {
      const batch = members.slice(i, i + DRY_RUN_BATCH);
      const [ecusOf, activeOf] = [await storage.inventory.ecusOfVehicles(batch), await storage.assignments.activeOfVehicles(batch)];
      for (const vin of batch) {
        const ecus = ecusOf.get(vin) ?? [];
        const outcome = planResolved(vin, ecus, activeOf.get(vin) ?? [], resolved);
        let reason = 'skipped' in outcome ? outcome.skipped.split(':', 1)[0]! : undefined;
        if (reason === undefined && spec.encrypt === true && ecus.some((e) => e.encryptionPublicKey === null && spec.images.some((img) => img.hardwareId === e.hardwareId))) reason = 'no_encryption_key';
        if (reason !== undefined) skipped[reason] = (skipped[reason] ?? 0) + 1;
      }
    }
  }
  return { dryRun: true, vehicles: total, stages, skipped, skippedChecked: checked };
}
