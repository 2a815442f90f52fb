// Repository health: every role of both repositories, its version, signers, threshold and expiry,
// coloured when it is inside the warning window or past it.
import { Problem, Section, seconds, short, When } from '../common.js';
import { useApi } from '../use-api.js';
import type { RepositoryHealth } from '../../../director-repo/api/operator-api.js';

export function Health() {
  const health = useApi<RepositoryHealth>('/api/v1/repositories/health');
  return (
    <>
      <h1>Repository health</h1>
      <Section title={health.data === undefined ? 'Roles' : `Roles (warning window ${health.data.warningDays} days${health.data.onlineWarningHours === undefined ? '' : `, online roles ${health.data.onlineWarningHours} h`})`}>
        <Problem error={health.error} />
        {health.data !== undefined && (
          <table data-testid="health">
            <thead>
              <tr>
                <th>Repository</th>
                <th>Role</th>
                <th>Version</th>
                <th>Signers</th>
                <th>Threshold</th>
                <th>Expires</th>
                <th>Left</th>
                <th>State</th>
              </tr>
            </thead>
            <tbody>
              {health.data.roles.map((r) => (
                <tr key={`${r.repository}/${r.role}`} class={`health-${r.state}`}>
                  <td>{r.repository}</td>
                  <td>{r.role}</td>
                  <td>{r.version}</td>
                  <td>
                    {r.keyids.map((k) => (
                      <code key={k} title={k}>
                        {short(k, 10)}{' '}
                      </code>
                    ))}
                    {r.online ? <span class="pill">online</span> : <span class="pill">offline</span>}
                  </td>
                  <td>{r.threshold}</td>
                  <td>
                    <When at={r.expires} />
                  </td>
                  <td>{r.secondsLeft > 0 ? seconds(r.secondsLeft * 1000) : 'expired'}</td>
                  <td>
                    <span class={`pill pill-health-${r.state}`}>{r.state}</span>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </Section>
    </>
  );
}
