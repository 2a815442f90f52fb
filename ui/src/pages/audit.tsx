// The audit log, newest first, filtered by actor and action on the Director and paged with before=.
import { useState } from 'preact/hooks';
import { query } from '../api.js';
import { Problem, Section, When } from '../common.js';
import { useApi } from '../use-api.js';
import type { AuditLog } from '../../../director-repo/api/operator-api.js';

const PAGE = 100;

export function Audit() {
  const [filter, setFilter] = useState({ actor: '', action: '' });
  const [applied, setApplied] = useState({ actor: '', action: '', before: '' as string | number });
  const log = useApi<AuditLog>(`/api/v1/audit${query({ limit: PAGE, ...applied })}`);
  const entries = log.data?.entries ?? [];
  const last = entries[entries.length - 1];
  return (
    <>
      <h1>Audit log</h1>
      <form
        class="filters"
        onSubmit={(e) => {
          e.preventDefault();
          setApplied({ actor: filter.actor.trim(), action: filter.action.trim(), before: '' });
        }}
      >
        <label>
          Actor
          <input name="actor" value={filter.actor} maxLength={64} onInput={(e) => setFilter({ ...filter, actor: e.currentTarget.value })} />
        </label>
        <label>
          Action
          <input name="action" value={filter.action} maxLength={64} onInput={(e) => setFilter({ ...filter, action: e.currentTarget.value })} />
        </label>
        <button type="submit">Filter</button>
      </form>
      <Section title="Entries">
        <Problem error={log.error} />
        <table data-testid="audit">
          <thead>
            <tr>
              <th>At</th>
              <th>Actor</th>
              <th>Token</th>
              <th>Action</th>
              <th>Details</th>
            </tr>
          </thead>
          <tbody>
            {entries.map((e, i) => (
              <tr key={e.id ?? i} class={e.action === 'refused' ? 'bad-row' : ''}>
                <td>
                  <When at={e.at} />
                </td>
                <td>{e.actor}</td>
                <td>
                  <code>{e.tokenId ?? ''}</code>
                </td>
                <td>{e.action}</td>
                <td>
                  <code>{JSON.stringify(e.details)}</code>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
        <div class="pager">
          <button type="button" disabled={applied.before === ''} onClick={() => setApplied({ ...applied, before: '' })}>
            Newest
          </button>
          <button type="button" disabled={entries.length < PAGE || last?.id === undefined} onClick={() => setApplied({ ...applied, before: last!.id! })}>
            Older
          </button>
        </div>
      </Section>
    </>
  );
}
