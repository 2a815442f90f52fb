// The Director's web dashboard: sign-in with an operator token (exchanged for an HttpOnly session
// cookie by POST /ui/api/session), then one page per hash route. Every value from the Director is
// rendered as text by Preact; nothing is ever inserted as HTML.
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { api, ApiError, setCsrfToken, whenSignedOut, type Session } from './api.js';
import { Problem, SessionContext } from './common.js';
import { Overview } from './pages/overview.js';
import { Vehicles, VehiclePage } from './pages/vehicles.js';
import { Campaigns, CampaignPage } from './pages/campaigns.js';
import { NewCampaign } from './pages/new-campaign.js';
import { Groups } from './pages/groups.js';
import { Images } from './pages/images.js';
import { Audit } from './pages/audit.js';
import { Health } from './pages/health.js';
import './style.css';

function useHash(): string {
  const [hash, setHash] = useState(location.hash.slice(1) || '/');
  useEffect(() => {
    const changed = () => setHash(location.hash.slice(1) || '/');
    addEventListener('hashchange', changed);
    return () => removeEventListener('hashchange', changed);
  }, []);
  return hash;
}

/** A path segment of the hash, decoded; a malformed escape (a hand-edited URL) is kept as typed. */
function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

function Page({ path }: { path: string }) {
  const [route = '', search = ''] = path.split('?');
  const parts = route.split('/').filter((p) => p !== '').map(decodeSegment);
  const params = new URLSearchParams(search);
  switch (parts[0]) {
    case undefined:
      return <Overview />;
    case 'vehicles':
      return parts[1] === undefined ? <Vehicles params={params} /> : <VehiclePage vin={parts[1]} />;
    case 'campaigns':
      if (parts[1] === undefined) return <Campaigns />;
      if (parts[1] === 'new' && parts.length === 2) return <NewCampaign />;
      return <CampaignPage name={parts[1]} />;
    case 'groups':
      return <Groups />;
    case 'images':
      return <Images />;
    case 'audit':
      return <Audit />;
    case 'health':
      return <Health />;
    default:
      return <p>No such page.</p>;
  }
}

const NAV: ReadonlyArray<readonly [string, string]> = [
  ['/', 'Overview'],
  ['/vehicles', 'Vehicles'],
  ['/campaigns', 'Campaigns'],
  ['/groups', 'Groups'],
  ['/images', 'Images'],
  ['/audit', 'Audit log'],
  ['/health', 'Repository health'],
];

function SignIn({ onSession }: { onSession: (session: Session) => void }) {
  const [token, setToken] = useState('');
  const [error, setError] = useState<Error | undefined>(undefined);
  const [busy, setBusy] = useState(false);
  const submit = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    try {
      onSession(await api<Session>('POST', '/ui/api/session', { token: token.trim() }));
    } catch (err) {
      setError(err as Error);
    } finally {
      setBusy(false);
      setToken('');
    }
  };
  return (
    <main class="signin">
      <form class="card" onSubmit={submit} autocomplete="off">
        <h1>Uptane Director</h1>
        <p class="muted">
          Sign in with an operator token (<code>uptane director operator add NAME</code> on the Director host).
        </p>
        <label>
          Operator token
          <input name="token" type="password" value={token} onInput={(e) => setToken(e.currentTarget.value)} required maxLength={512} />
        </label>
        <button type="submit" disabled={busy || token.trim() === ''}>
          Sign in
        </button>
        <Problem error={error} />
      </form>
    </main>
  );
}

function App() {
  const [session, setSession] = useState<Session | null | undefined>(undefined);
  const [signOutError, setSignOutError] = useState<Error | undefined>(undefined);
  const path = useHash();
  useEffect(() => {
    whenSignedOut(() => setSession(null));
    api<Session>('GET', '/ui/api/session').then(setSession, (err: unknown) => {
      if (!(err instanceof ApiError)) console.warn(err);
      setSession(null);
    });
  }, []);
  useEffect(() => setCsrfToken(session?.csrfToken ?? ''), [session]);
  if (session === undefined) return <p class="muted">Loading…</p>;
  if (session === null)
    return (
      <SignIn
        onSession={(s) => {
          setCsrfToken(s.csrfToken);
          setSession(s);
        }}
      />
    );
  // Signed out only once the Director recorded it (docs/dashboard.md "Signing out"): a failure
  // keeps the page signed in and says so, rather than hiding a session that still works.
  const signOut = async () => {
    setSignOutError(undefined);
    try {
      await api('DELETE', '/ui/api/session');
    } catch (err) {
      // 401: the session had already ended (expired, revoked, signed out elsewhere).
      if (!(err instanceof ApiError && err.status === 401)) {
        setSignOutError(new Error(`Not signed out: ${(err as Error).message}. The session still works; try again.`));
        return;
      }
    }
    setCsrfToken('');
    setSession(null);
  };
  const current = '/' + (path.split('?')[0] ?? '').split('/')[1];
  return (
    <SessionContext.Provider value={session}>
      <header class="top">
        <strong class="brand">Uptane Director</strong>
        <nav>
          {NAV.map(([to, label]) => (
            <a key={to} href={`#${to}`} class={current === to ? 'active' : ''}>
              {label}
            </a>
          ))}
        </nav>
        <span class="who" data-testid="who">
          {session.operator} <span class={`scope scope-${session.scope}`}>{session.scope}</span>
        </span>
        <button type="button" class="link" onClick={signOut}>
          Sign out
        </button>
      </header>
      <main class="content">
        <Problem error={signOutError} />
        <Page path={path} />
      </main>
    </SessionContext.Provider>
  );
}

render(<App />, document.getElementById('app')!);
