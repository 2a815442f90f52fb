// The campaign status's reading of stored rows (director-repo/campaign-status.ts): where a vehicle
// stands by its ECUs' newest assignments, skips counted by code, bounded VIN samples, pages in VIN
// order, and why a stage waits. Pure functions: rows in, answers out.
import { describeMs, skipCode, stageCounts, standings, standingsPage, stageProgress, waitingReasons } from '../../director-repo/campaign-status.js';
import type { CampaignAssignmentRow, CampaignRow, CampaignVehicleRow } from '../../director-repo/store/campaigns.js';

const vehicle = (vin: string, stage: number | null, outcome: string | null = null): CampaignVehicleRow => ({ vin, rank: vin, stage, outcome });
const assignment = (vin: string, ecuSerial: string, state: CampaignAssignmentRow['state'], reason: string | null = null, lastState: string | null = null): CampaignAssignmentRow => ({
  vin,
  ecuSerial,
  state,
  reason,
  updatedAt: '2026-06-01T00:00:00.000Z',
  lastState,
});

describe('campaign status', () => {
  it('reads a vehicle by its least advanced ECU, each ECU by its newest assignment (a retry replaces the failure)', () => {
    const rows = standings(
      [vehicle('V1', 0), vehicle('V2', 0), vehicle('V3', 0), vehicle('V4', 0, 'skipped: no ECU with a matching hardware id'), vehicle('V5', null), vehicle('V6', 0)],
      [
        assignment('V1', 'V1-a', 'installed'),
        assignment('V1', 'V1-b', 'failed', 'rolled_back: boot_check_failed'),
        assignment('V2', 'V2-a', 'failed', 'rolled_back: boot'),
        assignment('V2', 'V2-a', 'pending', null, 'driving'), // the retry
        assignment('V3', 'V3-a', 'installed'),
        assignment('V6', 'V6-a', 'cancelled', 'campaign c aborted by op'),
      ],
    );
    expect(rows.map((r) => [r.vin, r.stage, r.outcome, r.reason, r.deferredWhileDriving, r.rolledBack])).toEqual([
      ['V1', 0, 'failed', 'rolled_back: boot_check_failed', false, true],
      ['V2', 0, 'pending', null, true, false],
      ['V3', 0, 'installed', null, false, false],
      ['V4', 0, 'skipped', 'no ECU with a matching hardware id', false, false],
      ['V5', null, 'unstaged', null, false, false],
      ['V6', 0, 'cancelled', 'campaign c aborted by op', false, false],
    ]);
  });

  it('counts skips by code and samples at most N VINs per outcome in VIN order, counts whole', () => {
    expect(['already installed', 'no ECU with a matching hardware id', 'conflict: ECU x already has an active assignment', 'vehicle_unknown: no ECUs of V are registered', 'weird', null].map(skipCode)).toEqual([
      'already_installed',
      'no_matching_ecu',
      'conflict',
      'vehicle_unknown',
      'other',
      'unknown',
    ]);
    const vins = ['V9', 'V3', 'V7', 'V1', 'V5'];
    const all = standings([...vins.map((v) => vehicle(v, 0)), vehicle('S1', 0, 'skipped: already installed'), vehicle('S2', 0, 'skipped: conflict: ECU S2-a already has an active assignment')], vins.map((v) => assignment(v, `${v}-a`, 'pending')));
    const [stage] = stageCounts(all, new Set(['V3']), 2);
    expect(stage).toMatchObject({ stage: 0, vehicles: 7, pending: 5, skipped: 2, attackReported: 1, skipReasons: { already_installed: 1, conflict: 1 } });
    expect(stage!.vins.pending).toEqual([
      { vin: 'V1', reason: null },
      { vin: 'V3', reason: null },
    ]);
    expect(stageCounts(all, new Set(), 0)[0]!.vins).toEqual({});
  });

  it('pages in VIN order after a VIN, with the total and the next page’s start', () => {
    const all = standings(['D', 'B', 'A', 'C'].map((v) => vehicle(v, 0)), ['D', 'B', 'A', 'C'].map((v) => assignment(v, `${v}-a`, 'failed', 'x')));
    expect(standingsPage(all, { outcome: 'failed', limit: 3 })).toMatchObject({ total: 4, next: 'C', page: [{ vin: 'A' }, { vin: 'B' }, { vin: 'C' }] });
    expect(standingsPage(all, { outcome: 'failed', after: 'C', limit: 3 })).toMatchObject({ total: 4, next: null, page: [{ vin: 'D' }] });
    expect(standingsPage(all, { outcome: 'installed', limit: 3 })).toEqual({ total: 0, next: null, page: [] });
  });

  it('says why a stage waits: vehicles, the success threshold (with the way out when nothing installs any more), soak, the next stage’s schedule, a halt', () => {
    const now = new Date('2026-06-01T01:00:00Z');
    const campaign: CampaignRow = { id: 1, name: 'c', groupName: 'g', spec: '{}', state: 'running', stage: 0, stageStartedAt: '2026-06-01T00:30:00.000Z', createdAt: '', updatedAt: '' };
    const all = standings([vehicle('A', 0), vehicle('B', 0)], [assignment('A', 'A-a', 'failed', 'x'), assignment('B', 'B-a', 'installed')]);
    const [current] = stageCounts(all, new Set(), 0);
    const progress = stageProgress(current, { minSoakMs: 90 * 60_000 }, campaign.stageStartedAt!, now);
    expect(progress).toEqual({ finished: true, installedShare: 0.5, threshold: 0.9, soakLeftMs: 60 * 60_000 });
    expect(waitingReasons({ campaign, stages: 2, current, progress, held: 'stage 2 starts at 2026-06-02T00:00:00.000Z', history: [] })).toEqual([
      { code: 'success_threshold', message: 'stage 1 has 50% installed; stage 2 starts at 90%; none is still installing: `uptane director campaign retry c` tries the failed ones again, `advance c` moves on anyway' },
      { code: 'soak', message: 'soak time: 1h left in stage 1' },
      { code: 'schedule', message: 'stage 2 starts at 2026-06-02T00:00:00.000Z' },
    ]);
    const history = [{ at: '', actor: 'engine', kind: 'paused', details: { reason: 'failure rate 0.5 passed 0.2 (1 of 2)', stage: 1 } }];
    expect(waitingReasons({ campaign: { ...campaign, state: 'paused' }, stages: 2, current, progress, held: undefined, history })).toEqual([
      { code: 'halted', message: 'halted by its rules: failure rate 0.5 passed 0.2 (1 of 2); `uptane director campaign resume c` once it is dealt with' },
    ]);
    expect(waitingReasons({ campaign: { ...campaign, state: 'completed' }, stages: 2, current, progress, held: undefined, history })).toEqual([]);
    expect([describeMs(1), describeMs(60 * 60_000), describeMs(90_061_000)]).toEqual(['1m', '1h', '1d 1h 2m']);
  });
});
