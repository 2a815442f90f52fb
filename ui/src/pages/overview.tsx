// Fleet overview: vehicles by state, attacks and refused manifests (all counted by the Director),
// the states over time, and the latest attacks with links to their vehicles.
import { useMemo } from 'preact/hooks';
import { query } from '../api.js';
import { TimeChart, type Series } from '../chart.js';
import { Link, Problem, Section, STATE_LABELS, VEHICLE_STATES, When } from '../common.js';
import { useApi, useEvents } from '../use-api.js';
import type { AttackList, FleetOverview, ReportedAttack } from '../../../director-repo/api/operator-api.js';

/** An attack as the tables show it: any reported attack, with its vehicle. */
export type AttackRow = ReportedAttack & { readonly vin: string };

const COLORS: Readonly<Record<string, string>> = {
  up_to_date: '#2e7d32',
  pending: '#1565c0',
  downloading: '#00838f',
  deferred: '#6a1b9a',
  installing: '#ef6c00',
  failed: '#c62828',
  rolled_back: '#ad1457',
  stale: '#757575',
};

export function Overview() {
  const overview = useApi<FleetOverview>('/api/v1/fleet/overview');
  const attacks = useApi<AttackList>(`/api/v1/attacks${query({ limit: 10 })}`);
  useEvents(['manifest', 'attack', 'assignment'], () => {
    overview.reload();
    attacks.reload();
  }, 2000);
  const data = overview.data;
  const chart = useMemo(() => {
    const history = data?.history ?? [];
    const times = history.map((point) => Date.parse(point.at) / 1000);
    const series: Series[] = VEHICLE_STATES.map((state) => ({ label: STATE_LABELS[state]!, color: COLORS[state]!, values: history.map((point) => point.byState[state] ?? 0) }));
    return { times, series };
  }, [data]);
  return (
    <>
      <h1>Fleet overview</h1>
      <Problem error={overview.error} />
      {data !== undefined && (
        <>
          <div class="tiles">
            <div class="tile">
              <span class="tile-label">Vehicles</span>
              <strong data-testid="total-vehicles">{data.vehicles.total.toLocaleString('en')}</strong>
            </div>
            <div class={`tile ${data.attacks.total > 0 ? 'tile-bad' : ''}`}>
              <span class="tile-label">Reported attacks</span>
              <strong data-testid="attacks-total">{data.attacks.total.toLocaleString('en')}</strong>
              <span class="muted">{data.attacks.last24h} in the last 24 h</span>
            </div>
            <div class={`tile ${data.refusedManifests.total > 0 ? 'tile-warn' : ''}`}>
              <span class="tile-label">Refused manifests</span>
              <strong>{data.refusedManifests.total.toLocaleString('en')}</strong>
              <span class="muted">{data.refusedManifests.last24h} in the last 24 h</span>
            </div>
          </div>
          <Section title="Vehicles by state">
            <div class="states">
              {VEHICLE_STATES.map((state) => (
                <Link key={state} to={`/vehicles?state=${state}`} class="state">
                  <span class="dot" style={{ background: COLORS[state] }} />
                  <span>{STATE_LABELS[state]}</span>
                  <strong data-testid={`state-${state}`}>{(data.vehicles.byState[state] ?? 0).toLocaleString('en')}</strong>
                </Link>
              ))}
            </div>
          </Section>
          <Section title="Over time">{chart.times.length > 0 ? <TimeChart times={chart.times} series={chart.series} /> : <p class="muted">No history yet.</p>}</Section>
        </>
      )}
      <Section title="Latest attacks">
        <Problem error={attacks.error} />
        {attacks.data !== undefined && <AttackTable attacks={attacks.data.attacks} />}
      </Section>
    </>
  );
}

export function AttackTable({ attacks, showVin = true }: { attacks: readonly AttackRow[]; showVin?: boolean }) {
  if (attacks.length === 0) return <p class="muted">None reported.</p>;
  return (
    <table data-testid="attacks">
      <thead>
        <tr>
          <th>Reported</th>
          {showVin && <th>VIN</th>}
          <th>ECU</th>
          <th>Code</th>
          <th>Message</th>
        </tr>
      </thead>
      <tbody>
        {attacks.map((attack, i) => (
          <tr key={i} class="bad-row">
            <td>
              <When at={attack.reportedAt} />
            </td>
            {showVin && (
              <td>
                <Link to={`/vehicles/${encodeURIComponent(attack.vin)}`}>{attack.vin}</Link>
              </td>
            )}
            <td>{attack.ecuSerial}</td>
            <td>
              <code>{attack.code}</code>
            </td>
            <td>{attack.message}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
