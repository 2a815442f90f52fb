// Vehicles: one page at a time from the server (keyset paging on the VIN, a state filter and a VIN
// prefix search done by the Director), and one vehicle's ECUs, assignments, install bundles,
// manifests and attacks.
import { useEffect, useState } from 'preact/hooks';
import { api, enc, query } from '../api.js';
import { Link, navigate, Problem, Section, short, STATE_LABELS, useCanWrite, VEHICLE_STATES, When } from '../common.js';
import { useApi, useEvents } from '../use-api.js';
import { AttackTable } from './overview.js';
import type { EcuStatus, InstallBundleView, ManifestEntry, VehicleList, VehicleManifests, VehicleStatus } from '../../../director-repo/api/operator-api.js';

const PAGE = 50;

export function Vehicles({ params }: { params: URLSearchParams }) {
  const state = params.get('state') ?? '';
  const q = params.get('q') ?? '';
  const after = params.get('after') ?? '';
  const [search, setSearch] = useState(q);
  const [previous, setPrevious] = useState<string[]>([]);
  const list = useApi<VehicleList>(`/api/v1/vehicles${query({ limit: PAGE, after, state, q })}`);
  const go = (next: { state?: string; q?: string; after?: string }) => {
    const merged = { state, q, after: '', ...next };
    navigate(`/vehicles${query(merged)}`);
  };
  const vehicles = list.data?.vehicles ?? [];
  return (
    <>
      <h1>Vehicles</h1>
      <form
        class="filters"
        onSubmit={(e) => {
          e.preventDefault();
          setPrevious([]);
          go({ q: search.trim() });
        }}
      >
        <label>
          State
          <select
            name="state"
            value={state}
            onChange={(e) => {
              setPrevious([]);
              go({ state: e.currentTarget.value });
            }}
          >
            <option value="">any</option>
            {VEHICLE_STATES.map((s) => (
              <option key={s} value={s}>
                {STATE_LABELS[s]}
              </option>
            ))}
          </select>
        </label>
        <label>
          VIN starts with
          <input name="q" value={search} maxLength={64} onInput={(e) => setSearch(e.currentTarget.value)} />
        </label>
        <button type="submit">Search</button>
      </form>
      <Problem error={list.error} />
      {list.data !== undefined && (
        <Section title={`${list.data.totalCapped === true ? 'At least ' : ''}${list.data.total.toLocaleString('en')} vehicle${list.data.total === 1 ? '' : 's'}`}>
          <table data-testid="vehicles">
            <thead>
              <tr>
                <th>VIN</th>
                <th>State</th>
                <th>Attributes</th>
                <th>Registered</th>
              </tr>
            </thead>
            <tbody>
              {vehicles.map((v) => (
                <tr key={v.vin}>
                  <td>
                    <Link to={`/vehicles/${enc(v.vin)}`}>{v.vin}</Link>
                  </td>
                  <td>{v.state === undefined ? '' : <span class={`pill pill-${v.state}`}>{STATE_LABELS[v.state] ?? v.state}</span>}</td>
                  <td>
                    {Object.entries(v.attributes)
                      .map(([k, val]) => `${k}=${val}`)
                      .join(', ')}
                  </td>
                  <td>
                    <When at={v.registeredAt} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          <div class="pager">
            <button
              type="button"
              disabled={after === ''}
              onClick={() => {
                const back = previous.slice(0, -1);
                const to = previous[previous.length - 1] ?? '';
                setPrevious(back);
                go({ after: to });
              }}
            >
              Previous
            </button>
            <button
              type="button"
              disabled={vehicles.length < PAGE}
              onClick={() => {
                setPrevious([...previous, after]);
                go({ after: vehicles[vehicles.length - 1]!.vin });
              }}
            >
              Next
            </button>
          </div>
        </Section>
      )}
    </>
  );
}


export function VehiclePage({ vin }: { vin: string }) {
  const vehicle = useApi<VehicleStatus>(`/api/v1/vehicles/${enc(vin)}`);
  useEvents(['manifest', 'attack', 'assignment'], (kind, data) => {
    if (kind === 'poll' || (data as { vin?: unknown } | undefined)?.vin === vin) vehicle.reload();
  });
  const v = vehicle.data;
  return (
    <>
      <h1>
        Vehicle <span data-testid="vin">{vin}</span>
      </h1>
      <Problem error={vehicle.error} />
      {v !== undefined && (
        <>
          <p class="muted">
            Registered <When at={v.registeredAt} />, last manifest <When at={v.lastManifestAt} />.{' '}
            {Object.entries(v.attributes)
              .map(([k, val]) => `${k}=${val}`)
              .join(', ')}
          </p>
          <Section title="ECUs">
            <table data-testid="ecus">
              <thead>
                <tr>
                  <th>Serial</th>
                  <th>Hardware id</th>
                  <th>Security profile</th>
                  <th>Installed image</th>
                  <th>Release counter</th>
                  <th>Last report</th>
                  <th>Pending</th>
                </tr>
              </thead>
              <tbody>
                {v.ecus.map((ecu) => (
                  <tr key={ecu.serial}>
                    <td>
                      {ecu.serial}
                      {ecu.primary && <span class="pill">primary</span>}
                    </td>
                    <td>{ecu.hardwareId}</td>
                    <td data-testid="security-profile">
                      <span class={`pill pill-profile-${ecu.securityProfile}`}>{ecu.securityProfile}</span>
                      <div class="muted small">{requirementsText(ecu.profileRequirements)}</div>
                    </td>
                    <td title={ecu.installed?.hashes.sha256 ?? ''}>{ecu.installed?.filename ?? <span class="muted">none reported</span>}</td>
                    <td>{ecu.installed?.releaseCounter ?? ''}</td>
                    <td>
                      <When at={ecu.reportedAt} />
                    </td>
                    <td>{ecu.pending === null ? '' : `${ecu.pending.filename} (${ecu.pending.state})`}</td>
                  </tr>
                ))}
              </tbody>
            </table>
            <ReplaceEcu vin={vin} ecus={v.ecus} onReplaced={vehicle.reload} />
          </Section>
          <Section title="Attacks reported">
            <AttackTable attacks={v.attacks.map((a) => ({ ...a, vin }))} showVin={false} />
          </Section>
          <Section title="Assignments">
            {v.assignments.length === 0 ? (
              <p class="muted">None.</p>
            ) : (
              <table data-testid="assignments">
                <thead>
                  <tr>
                    <th>Id</th>
                    <th>ECU</th>
                    <th>Image</th>
                    <th>Release</th>
                    <th>State</th>
                    <th>Install bundle</th>
                    <th>Reason</th>
                    <th>Updated</th>
                  </tr>
                </thead>
                <tbody>
                  {v.assignments.map((a) => (
                    <tr key={a.id}>
                      <td>{a.id}</td>
                      <td>{a.ecuSerial}</td>
                      <td>{a.filename}</td>
                      <td>{a.releaseCounter}</td>
                      <td>
                        <span class={`pill pill-${a.state}`}>{a.state}</span>
                      </td>
                      <td>{a.bundleId === undefined ? '' : `ib-${a.bundleId}`}</td>
                      <td>{a.reason ?? ''}</td>
                      <td>
                        <When at={a.updatedAt} />
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            )}
          </Section>
          <InstallBundles ids={bundlesOf(v)} version={v.assignments.map((a) => `${a.id}:${a.state}`).join(',')} />
          <ManifestHistory vin={vin} first={v.manifests} />
        </>
      )}
    </>
  );
}

/** The install bundles the vehicle's listed assignments belong to, newest first. */
/**
 * What an ECU's security profile requires of it, in words (docs/security-profiles.md); the Director
 * refuses to assign it an image whose minimum profile is higher.
 */
function requirementsText(r: EcuStatus['profileRequirements'] | undefined): string {
  // An older Director answers without it.
  if (r === undefined) return '';
  return [
    r.verification === 'full' ? 'full verification' : 'partial verification',
    r.hardwareKey ? 'key in hardware' : r.asymmetricKey ? 'asymmetric key' : 'any key',
    ...(r.perEcuEncryption ? ['encrypted images'] : []),
    ...(r.abSlots ? ['A/B slots'] : []),
    ...(r.secureTime ? ['secure time'] : []),
  ].join(', ');
}

function bundlesOf(v: VehicleStatus): number[] {
  return [...new Set(v.assignments.flatMap((a) => (a.bundleId === undefined ? [] : [a.bundleId])))].sort((a, b) => b - a);
}

/**
 * Each install bundle's one outcome (docs/decisions.md "Install bundles"), one GET per bundle;
 * `version` changes with the members' states, so an outcome is read again when they move.
 */
function InstallBundles({ ids, version }: { ids: readonly number[]; version: string }) {
  if (ids.length === 0) return null;
  return (
    <Section title="Install bundles">
      <table data-testid="install-bundles">
        <thead>
          <tr>
            <th>Bundle</th>
            <th>Outcome</th>
            <th>Members</th>
            <th>Failing ECU</th>
            <th>Reason</th>
            <th>Updated</th>
          </tr>
        </thead>
        <tbody>
          {ids.map((id) => (
            <InstallBundleRow key={`${id}/${version}`} id={id} />
          ))}
        </tbody>
      </table>
    </Section>
  );
}

/** How long a row waits to read an outcome the Director is about to record. */
const SETTLE_MS = 1000;

function InstallBundleRow({ id }: { id: number }) {
  const bundle = useApi<InstallBundleView>(`/api/v1/install-bundles/${id}`);
  const b = bundle.data;
  // The Director records the outcome just after the manifest that decides it, so the page's reload
  // on that manifest's event may read the bundle still pending: read it again until it is not.
  const due = b !== undefined && b.state === 'pending' && (b.members.some((m) => m.state === 'failed') || b.members.every((m) => m.state !== 'pending' && m.state !== 'in_flight'));
  useEffect(() => {
    if (!due) return undefined;
    const timer = setTimeout(bundle.reload, SETTLE_MS);
    return () => clearTimeout(timer);
  }, [due, b, bundle.reload]);
  if (b === undefined) {
    return (
      <tr>
        <td>ib-{id}</td>
        <td colSpan={5}>{bundle.error === undefined ? <span class="muted">loading</span> : <Problem error={bundle.error} />}</td>
      </tr>
    );
  }
  return (
    <tr>
      <td>{b.bundleId}</td>
      <td>
        <span class={`pill pill-${b.state}`}>{b.state}</span>
      </td>
      <td>{b.members.map((m) => `${m.ecuSerial}: ${m.filename}`).join(', ')}</td>
      <td>{b.failingEcu ?? ''}</td>
      <td>{b.reason ?? ''}</td>
      <td>
        <When at={b.updatedAt} />
      </td>
    </tr>
  );
}

/** How many manifests GET /vehicles/:vin lists (services/inventory.ts): fewer means there are no older ones. */
const FIRST_MANIFESTS = 20;

/** The newest manifests come with the vehicle; older ones page from /manifests?before=. */
function ManifestHistory({ vin, first }: { vin: string; first: readonly ManifestEntry[] }) {
  const [older, setOlder] = useState<ManifestEntry[]>([]);
  const [error, setError] = useState<Error | undefined>(undefined);
  const [done, setDone] = useState(false);
  const rows = [...first, ...older];
  const more = async () => {
    const oldest = rows[rows.length - 1];
    try {
      const page = await api<VehicleManifests>('GET', `/api/v1/vehicles/${enc(vin)}/manifests${query({ limit: 50, before: oldest?.id })}`);
      setOlder([...older, ...page.manifests]);
      if (page.manifests.length < 50) setDone(true);
    } catch (err) {
      setError(err as Error);
    }
  };
  return (
    <Section title="Manifest history">
      {rows.length === 0 ? (
        <p class="muted">No manifest yet.</p>
      ) : (
        <table data-testid="manifests">
          <thead>
            <tr>
              <th>Received</th>
              <th>Result</th>
              <th>Refusal</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((m) => (
              <tr key={m.id} class={m.accepted ? '' : 'bad-row'}>
                <td>
                  <When at={m.receivedAt} />
                </td>
                <td>{m.accepted ? 'accepted' : 'refused'}</td>
                <td>{m.accepted ? '' : `${m.errorCode ?? ''} ${m.errorMessage ?? ''}`}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <Problem error={error} />
      {first.length >= FIRST_MANIFESTS && !done && error === undefined && (
        <button type="button" onClick={more}>
          Older manifests
        </button>
      )}
    </Section>
  );
}

function ReplaceEcu({ vin, ecus, onReplaced }: { vin: string; ecus: readonly EcuStatus[]; onReplaced: () => void }) {
  const canWrite = useCanWrite();
  const [serial, setSerial] = useState(ecus[0]?.serial ?? '');
  const [next, setNext] = useState({ serial: '', hardwareId: '', publicKey: '', encryptionPublicKey: '' });
  const [error, setError] = useState<Error | undefined>(undefined);
  const [done, setDone] = useState('');
  if (!canWrite) return null;
  const submit = async (e: Event) => {
    e.preventDefault();
    setError(undefined);
    try {
      const body = { serial: next.serial.trim(), hardwareId: next.hardwareId.trim(), publicKey: next.publicKey.trim(), ...(next.encryptionPublicKey.trim() === '' ? {} : { encryptionPublicKey: next.encryptionPublicKey.trim() }) };
      await api('POST', `/api/v1/vehicles/${enc(vin)}/ecus/${enc(serial)}/replace`, body);
      setDone(`ECU ${serial} replaced by ${body.serial}.`);
      onReplaced();
    } catch (err) {
      setError(err as Error);
    }
  };
  const field = (name: keyof typeof next, label: string, max: number) => (
    <label>
      {label}
      <input name={name} value={next[name]} maxLength={max} onInput={(e) => setNext({ ...next, [name]: e.currentTarget.value })} />
    </label>
  );
  return (
    <details class="form-box">
      <summary>Replace an ECU</summary>
      <form onSubmit={submit} data-testid="replace-ecu">
        <label>
          ECU
          <select value={serial} onChange={(e) => setSerial(e.currentTarget.value)}>
            {ecus.map((ecu) => (
              <option key={ecu.serial} value={ecu.serial}>
                {ecu.serial} ({short(ecu.hardwareId, 24)})
              </option>
            ))}
          </select>
        </label>
        {field('serial', 'New serial', 64)}
        {field('hardwareId', 'Hardware id', 64)}
        {field('publicKey', 'Signing public key', 2048)}
        {field('encryptionPublicKey', 'Encryption public key (optional)', 64)}
        <button type="submit" data-writes="true">
          Replace
        </button>
        <Problem error={error} />
        {done !== '' && <p class="ok">{done}</p>}
      </form>
    </details>
  );
}
