// Small pieces every page uses: errors and "not available", times, links, and whether the signed-in
// operator may change anything (a read scope sees every page with its controls removed or disabled).
import { createContext, type ComponentChildren } from 'preact';
import { useContext } from 'preact/hooks';
import { NotAvailable, type Session } from './api.js';
import type { FleetState } from '../../director-repo/api/operator-api.js';

export const SessionContext = createContext<Session | undefined>(undefined);

/** True when the operator's scope may change state (operator or admin); the server checks again. */
export function useCanWrite(): boolean {
  const session = useContext(SessionContext);
  return session !== undefined && session.scope !== 'read';
}

export function Problem({ error }: { error: Error | undefined }) {
  if (error === undefined) return null;
  if (error instanceof NotAvailable) return <p class="muted" data-testid="not-available">Not available on this Director ({error.message}).</p>;
  return (
    <p class="error" role="alert">
      {error.message}
    </p>
  );
}

export function Section({ title, children, actions }: { title: string; children: ComponentChildren; actions?: ComponentChildren }) {
  return (
    <section class="card">
      <header class="card-head">
        <h2>{title}</h2>
        {actions}
      </header>
      {children}
    </section>
  );
}

export function When({ at }: { at: string | null | undefined }) {
  if (at === null || at === undefined) return <span class="muted">never</span>;
  const date = new Date(at);
  if (Number.isNaN(date.getTime())) return <span>{at}</span>;
  return <time dateTime={at} title={at}>{date.toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z')}</time>;
}

/** A link inside the dashboard (hash routing: the server serves one page). */
export function Link({ to, children, class: className }: { to: string; children: ComponentChildren; class?: string }) {
  return (
    <a href={`#${to}`} class={className}>
      {children}
    </a>
  );
}

export function navigate(to: string): void {
  location.hash = to;
}

export function seconds(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 120) return `${s} s`;
  if (s < 7200) return `${Math.round(s / 60)} min`;
  if (s < 172800) return `${Math.round(s / 3600)} h`;
  return `${Math.round(s / 86400)} d`;
}

export function short(text: string | null | undefined, length = 12): string {
  if (text === null || text === undefined) return '';
  return text.length > length ? `${text.slice(0, length)}…` : text;
}

export const STATE_LABELS: Readonly<Record<FleetState, string>> = {
  up_to_date: 'Up to date',
  pending: 'Pending',
  downloading: 'Downloading',
  deferred: 'Deferred while driving',
  installing: 'Installing',
  failed: 'Failed',
  rolled_back: 'Rolled back',
  stale: 'Stale',
};

export const VEHICLE_STATES = Object.keys(STATE_LABELS) as FleetState[];
