// Campaigns: the list, and one campaign's progress per stage as bars, why it halted or waits, the
// soak timer, failed and skipped vehicles with their reasons, and the actions its state allows
// (retrying failed vehicles too), reloaded live from the Director's event stream.
import { useEffect, useState } from 'preact/hooks';
import { api, enc } from '../api.js';
import { Link, Problem, Section, seconds, useCanWrite, When } from '../common.js';
import { useApi, useEvents } from '../use-api.js';
import type { CampaignList, CampaignStageStatus, CampaignStatus } from '../../../director-repo/api/operator-api.js';

export function Campaigns() {
  const list = useApi<CampaignList>('/api/v1/campaigns');
  const canWrite = useCanWrite();
  useEvents(['campaign'], list.reload);
  return (
    <>
      <h1>Campaigns</h1>
      <Section
        title="All campaigns"
        actions={
          canWrite && (
            <a class="button" href="#/campaigns/new" data-writes="true">
              New campaign
            </a>
          )
        }
      >
        <Problem error={list.error} />
        {list.data !== undefined &&
          (list.data.campaigns.length === 0 ? (
            <p class="muted">No campaign yet.</p>
          ) : (
            <table data-testid="campaigns">
              <thead>
                <tr>
                  <th>Id</th>
                  <th>Name</th>
                  <th>Group</th>
                  <th>State</th>
                  <th>Stage</th>
                </tr>
              </thead>
              <tbody>
                {list.data.campaigns.map((c) => (
                  <tr key={c.id}>
                    <td>{c.id}</td>
                    <td>
                      <Link to={`/campaigns/${enc(c.name)}`}>{c.name}</Link>
                    </td>
                    <td>{c.group}</td>
                    <td>
                      <span class={`pill pill-${c.state}`}>{c.state}</span>
                    </td>
                    <td>
                      {c.stage} of {c.stages}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          ))}
      </Section>
    </>
  );
}

const ACTIONS: Readonly<Record<string, readonly string[]>> = {
  draft: ['start', 'abort'],
  running: ['pause', 'advance', 'abort'],
  paused: ['resume', 'advance', 'abort'],
  completed: [],
  aborted: [],
};

/** The counts a stage's bar shows, each a number of CampaignStageStatus. */
type StageCount = 'installed' | 'downloading' | 'deferredWhileDriving' | 'pending' | 'failed' | 'rolledBack' | 'attackReported' | 'cancelled' | 'skipped';

const BAR_PARTS: ReadonlyArray<readonly [StageCount, string]> = [
  ['installed', 'installed'],
  ['downloading', 'downloading'],
  ['deferredWhileDriving', 'deferred'],
  ['pending', 'pending'],
  ['failed', 'failed'],
  ['rolledBack', 'rolled back'],
  ['attackReported', 'attack reported'],
  ['cancelled', 'cancelled'],
  ['skipped', 'skipped'],
];

function StageBar({ stage }: { stage: CampaignStageStatus }) {
  const total = Math.max(1, stage.vehicles);
  return (
    <div class="stage" data-testid={`stage-${stage.stage}`}>
      <div class="stage-head">
        <strong>Stage {stage.stage}</strong>
        <span>
          <span data-testid={`stage-${stage.stage}-installed`}>{stage.installed}</span> of {stage.vehicles} installed
        </span>
      </div>
      <div class="bar" role="img" aria-label={`stage ${stage.stage}: ${stage.installed} of ${stage.vehicles} installed`}>
        {BAR_PARTS.map(([key, label]) => {
          const count = stage[key];
          return count > 0 ? <span key={key} class={`bar-${key}`} style={{ width: `${(100 * count) / total}%` }} title={`${count} ${label}`} /> : null;
        })}
      </div>
      <div class="legend">
        {BAR_PARTS.filter(([key]) => stage[key] > 0).map(([key, label]) => (
          <span key={key}>
            <span class={`swatch bar-${key}`} /> {stage[key]} {label}
          </span>
        ))}
      </div>
    </div>
  );
}

/**
 * The skipped and failed vehicles the status names per stage (its first few of each), with their
 * reasons, and skips counted by reason; `campaign status NAME --outcome ...` lists all of them.
 */
function VehicleReasons({ status }: { status: CampaignStatus }) {
  const rows = status.perStage.flatMap((stage) =>
    (['failed', 'skipped'] as const).flatMap((outcome) => (stage.vins?.[outcome] ?? []).map((v) => ({ stage: stage.stage, outcome, ...v }))),
  );
  const skips = status.perStage.flatMap((stage) => Object.entries(stage.skipReasons ?? {}).map(([code, n]) => `stage ${stage.stage}: ${n} ${code}`));
  if (rows.length === 0) return null;
  return (
    <Section title="Failed and skipped vehicles">
      {skips.length > 0 && <p data-testid="skip-reasons">Skipped by reason: {skips.join('; ')}</p>}
      <table data-testid="vehicle-reasons">
        <tbody>
          {rows.map((r) => (
            <tr key={`${r.stage}/${r.vin}`}>
              <td>{r.stage}</td>
              <td>{r.outcome}</td>
              <td>
                <Link to={`/vehicles/${enc(r.vin)}`}>{r.vin}</Link>
              </td>
              <td>{r.reason ?? ''}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </Section>
  );
}

/** Why a campaign paused, from its history: the latest pause's reason. */
function haltReasons(status: CampaignStatus): string[] {
  const reasons: string[] = [];
  for (const event of status.history) {
    const reason = (event.details as { reason?: unknown } | null)?.reason;
    if (event.kind === 'paused' && typeof reason === 'string') reasons.push(reason);
  }
  return reasons;
}

function SoakTimer({ status }: { status: CampaignStatus }) {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(timer);
  }, []);
  const stage = status.stages[status.stage - 1];
  if (status.state !== 'running' || stage === undefined) return null;
  if (status.stageStartedAt === null) return <p class="muted">Stage {status.stage} waits for its schedule or maintenance window.</p>;
  const soak = stage.minSoakMs ?? 0;
  const left = Date.parse(status.stageStartedAt) + soak - now;
  return (
    <p data-testid="soak">
      Stage {status.stage} started <When at={status.stageStartedAt} />
      {soak > 0 && (left > 0 ? `; soak time left: ${seconds(left)}` : '; soak time over')}.
    </p>
  );
}

export function CampaignPage({ name }: { name: string }) {
  const campaign = useApi<CampaignStatus>(`/api/v1/campaigns/${enc(name)}`);
  const canWrite = useCanWrite();
  const [actionError, setActionError] = useState<Error | undefined>(undefined);
  const [busy, setBusy] = useState(false);
  const live = useEvents(['campaign', 'manifest', 'assignment', 'attack'], campaign.reload);
  const status = campaign.data;
  const act = async (action: string) => {
    if (action === 'abort' && !confirm(`Abort campaign ${name}? Its pending assignments are cancelled.`)) return;
    setBusy(true);
    setActionError(undefined);
    try {
      await api('POST', `/api/v1/campaigns/${enc(name)}/${action}`, {});
    } catch (err) {
      setActionError(err as Error);
    } finally {
      setBusy(false);
      campaign.reload();
    }
  };
  const reasons = status === undefined ? [] : haltReasons(status);
  return (
    <>
      <h1>
        Campaign <span data-testid="campaign-name">{name}</span>{' '}
        {status !== undefined && (
          <span class={`pill pill-${status.state}`} data-testid="campaign-state">
            {status.state}
          </span>
        )}
        <span class={live ? 'live on' : 'live'} title={live ? 'live updates on' : 'live updates off'}>
          {live ? 'live' : 'offline'}
        </span>
      </h1>
      <Problem error={campaign.error} />
      {status !== undefined && (
        <>
          <p>
            Group <strong>{status.group}</strong>, {status.vehicles} vehicles, stage {status.stage} of {status.stages.length}. Images:{' '}
            {status.images.map((i) => `${i.image} → ${i.hardwareId}`).join(', ')}
          </p>
          <div class="actions">
            {(['start', 'pause', 'resume', 'advance', 'abort'] as const).map((action) => {
              const allowed = ACTIONS[status.state]?.includes(action) ?? false;
              return allowed ? (
                <button key={action} type="button" data-action={action} data-writes="true" disabled={!canWrite || busy} class={action === 'abort' ? 'danger' : ''} onClick={() => act(action)}>
                  {action[0]!.toUpperCase() + action.slice(1)}
                </button>
              ) : null;
            })}
            {/* Failed vehicles get the update again; an aborted campaign takes no more (the Director refuses it too). */}
            {status.state !== 'aborted' && status.state !== 'draft' && status.perStage.some((s) => s.failed > 0) && (
              <button type="button" data-action="retry" data-writes="true" disabled={!canWrite || busy} onClick={() => act('retry')}>
                Retry failed
              </button>
            )}
          </div>
          <Problem error={actionError} />
          {status.state === 'paused' && reasons.length > 0 && (
            <div class="halt" role="status" data-testid="halt-reason">
              <strong>Halted:</strong> {reasons[reasons.length - 1]}
            </div>
          )}
          <SoakTimer status={status} />
          {(status.waiting ?? []).length > 0 && (
            <ul class="muted" data-testid="waiting">
              {status.waiting.map((w) => (
                <li key={w.code}>{w.message}</li>
              ))}
            </ul>
          )}
          <Section title="Progress per stage">
            {status.perStage.length === 0 ? <p class="muted">Not started.</p> : status.perStage.map((stage) => <StageBar key={stage.stage} stage={stage} />)}
            <p class="muted">
              Planned:{' '}
              {status.stages
                .map((s, i) => `${i + 1}: ${s.share !== undefined ? `${Math.round(s.share * 1000) / 10}%` : `${s.count} vehicles`}${s.minSoakMs ? `, soak ${seconds(s.minSoakMs)}` : ''}`)
                .join('; ')}
            </p>
          </Section>
          <VehicleReasons status={status} />
          {Object.keys(status.failureReasons).length > 0 && (
            <Section title="Failure reasons">
              <ul>
                {Object.entries(status.failureReasons).map(([reason, count]) => (
                  <li key={reason}>
                    {reason}: {count}
                  </li>
                ))}
              </ul>
            </Section>
          )}
          <Section title="History">
            <table data-testid="campaign-history">
              <tbody>
                {[...status.history].reverse().map((event, i) => (
                  <tr key={i}>
                    <td>
                      <When at={event.at} />
                    </td>
                    <td>{event.kind}</td>
                    <td>{event.actor}</td>
                    <td>
                      <code>{event.details === null || event.details === undefined ? '' : JSON.stringify(event.details)}</code>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </Section>
        </>
      )}
    </>
  );
}
