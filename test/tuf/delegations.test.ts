// Group I of docs/threat-model.md (delegations in the Image repository), and the peer advisories
// about delegations listed there. Scenario tests drive the real RepositoryUpdater against the
// simulator and read the visiting order from the simulator's fetch log, as python-tuf's
// delegation-graph tests do; pattern, hash-bin and schema rules are pure unit tests. Spec:
// docs/uptane-conformance.md 5.6-5.8.
import { createHash } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { canonicalBytes } from '../../shared/core/canonical.js';
import { PrivateKey } from '../../shared/core/crypto/keys.js';
import {
  BadKeyIdError,
  DelegationError,
  DownloadLengthError,
  ExpiredMetadataError,
  HashMismatchError,
  IllegalThresholdError,
  LengthMismatchError,
  MalformedMetadataError,
  MissingMetaError,
  NonUniqueSignaturesError,
  RemoteNotFoundError,
  TargetNotFoundError,
  UnmetThresholdError,
  UptaneError,
  VersionMismatchError,
} from '../../shared/core/errors.js';
import { delegatedAuthority } from '../../shared/core/metadata/delegation.js';
import { parseMetadata, SPEC_VERSION } from '../../shared/core/metadata/parse.js';
import { isSuccinctRoleName, matchesPathPattern, succinctRoleFor, succinctRoleName } from '../../shared/core/metadata/paths.js';
import type { DelegatedRole, SuccinctRoles, TargetsSigned } from '../../shared/core/metadata/types.js';
import { TrustedMetadataSet } from '../../shared/core/trusted-metadata-set.js';
import type { RepositoryUpdater } from '../../shared/client/updater.js';
import { cleanupClients, expectRejected, newClient, type TestClient } from '../support/client.js';
import { RepositorySimulator, SIM_EXPIRES, SIM_NOW, type MutableTargets, type SimulatorOptions } from '../support/repo-simulator.js';

afterEach(cleanupClients);

// ---------------------------------------------------------------------------------------------
// Helpers.

const TOP_LEVEL_FILES = ['root', 'snapshot', 'targets', 'timestamp'];

/** One delegation edge, python-tuf style: paths default to ["*"], terminating to false. */
interface Edge {
  readonly delegator: string;
  readonly name: string;
  readonly terminating?: boolean;
  readonly paths?: string[];
  readonly path_hash_prefixes?: string[];
  readonly hardwareIds?: string[];
}

/**
 * Adds a delegation. A role delegated a second time keeps its metadata and is signed by the keys of
 * every delegation to it (as python-tuf's simulator does), so it verifies along each path.
 */
function delegate(sim: RepositorySimulator, edge: Edge): void {
  const existing = sim.delegated.get(edge.name);
  const previousSigners = sim.signers.get(edge.name) ?? [];
  const role: Omit<DelegatedRole, 'keyids' | 'threshold'> = {
    name: edge.name,
    terminating: edge.terminating ?? false,
    ...(edge.path_hash_prefixes !== undefined ? { path_hash_prefixes: edge.path_hash_prefixes } : { paths: edge.paths ?? ['*'] }),
    ...(edge.hardwareIds !== undefined ? { hardwareIds: edge.hardwareIds } : {}),
  };
  sim.addDelegation(edge.delegator, role);
  if (existing !== undefined) {
    sim.delegated.set(edge.name, existing);
    sim.signers.set(edge.name, [...previousSigners, ...sim.signers.get(edge.name)!]);
  }
}

function buildRepository(edges: readonly Edge[], options: SimulatorOptions = {}): RepositorySimulator {
  const sim = new RepositorySimulator(options);
  for (const edge of edges) delegate(sim, edge);
  sim.updateSnapshot();
  return sim;
}

/** Role names of the metadata files fetched since the log was last cleared, in order. */
function fetchedRoles(sim: RepositorySimulator): string[] {
  return sim.fetchLog.flatMap((url) => {
    const match = /\/metadata\/(?:\d+\.)?([^/]+)\.json$/.exec(url);
    return match === null ? [] : [decodeURIComponent(match[1]!)];
  });
}

/** Role names of the metadata files in the client's store, sorted. */
function storedRoles(client: TestClient): string[] {
  return readdirSync(client.store.directory)
    .map((file) => decodeURIComponent(file.replace(/\.json$/, '')))
    .sort();
}

/** A fresh updater (as after a restart) that has refreshed; the fetch log is cleared afterwards. */
async function refreshed(client: TestClient, sim: RepositorySimulator): Promise<RepositoryUpdater> {
  const updater = client.newUpdater();
  await updater.refresh();
  sim.fetchLog.length = 0;
  return updater;
}

function sha256(content: string): string {
  return createHash('sha256').update(content).digest('hex');
}

function emptyTargets(): MutableTargets {
  return { _type: 'targets', spec_version: SPEC_VERSION, version: 1, expires: SIM_EXPIRES, targets: {} };
}

/**
 * TAP 15 hash bins: `delegator` delegates to 2^bitLength bins `<prefix>-<hex>` with one new key.
 * Metadata is created for `bins` only (default: every bin), so 32-bit delegations stay small.
 */
function addSuccinctDelegation(
  sim: RepositorySimulator,
  delegator: string,
  bitLength: number,
  prefix: string,
  bins?: readonly string[],
): PrivateKey {
  const parent = delegator === 'targets' ? sim.targets : sim.delegated.get(delegator)!;
  const key = sim.newKey(prefix);
  const succinct: SuccinctRoles = { keyids: [key.keyid], threshold: 1, bit_length: bitLength, name_prefix: prefix };
  parent.delegations = { keys: { [key.keyid]: key.publicKey.tuf }, succinct_roles: { ...succinct, keyids: [key.keyid] } };
  const names = bins ?? Array.from({ length: 2 ** bitLength }, (_, bin) => succinctRoleName(succinct, bin));
  for (const name of names) {
    sim.signers.set(name, [key]);
    sim.delegated.set(name, emptyTargets());
  }
  return key;
}

/** Adds one more key to the delegation `delegator` -> `role` (the role is not re-signed with it). */
function addDelegationKey(sim: RepositorySimulator, delegator: string, role: string): PrivateKey {
  const parent = delegator === 'targets' ? sim.targets : sim.delegated.get(delegator)!;
  const key = sim.newKey(`${role}-extra`);
  parent.delegations!.keys[key.keyid] = key.publicKey.tuf;
  parent.delegations!.roles!.find((r) => r.name === role)!.keyids.push(key.keyid);
  return key;
}

function delegationTo(sim: RepositorySimulator, delegator: string, role: string) {
  const parent = delegator === 'targets' ? sim.targets : sim.delegated.get(delegator)!;
  return parent.delegations!.roles!.find((r) => r.name === role)!;
}

/** The thrown error of a synchronous call, or a test failure when nothing is thrown. */
function thrownBy(action: () => unknown): UptaneError {
  try {
    action();
  } catch (err) {
    expect(err).toBeInstanceOf(UptaneError);
    return err as UptaneError;
  }
  throw new Error('expected the call to throw');
}

/** Targets metadata bytes with `delegations` as given (unsigned: parse checks shape, not signatures). */
function targetsBytes(delegations: unknown): Uint8Array {
  const signed = { _type: 'targets', spec_version: SPEC_VERSION, version: 1, expires: SIM_EXPIRES, targets: {}, delegations };
  return canonicalBytes({ signed, signatures: [] });
}

const SCHEMA_KEY = PrivateKey.fromLabel('delegations-test/schema-key');
const SCHEMA_KEYS = { [SCHEMA_KEY.keyid]: SCHEMA_KEY.publicKey.tuf };

/** `base` with `fields` applied; a field set to undefined is removed. */
function withFields(base: Record<string, unknown>, fields: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries({ ...base, ...fields }).filter(([, value]) => value !== undefined));
}

function schemaRole(fields: Record<string, unknown>): Record<string, unknown> {
  return withFields({ name: 'a', keyids: [SCHEMA_KEY.keyid], threshold: 1, terminating: false, paths: ['a/*'] }, fields);
}

function schemaSuccinct(fields: Record<string, unknown>): Record<string, unknown> {
  return withFields({ keyids: [SCHEMA_KEY.keyid], threshold: 1, bit_length: 8, name_prefix: 'bins' }, fields);
}

function expectMalformedDelegations(delegations: unknown, field: RegExp): void {
  const err = thrownBy(() => parseMetadata(targetsBytes(delegations), 'targets'));
  expect(err).toBeInstanceOf(MalformedMetadataError);
  expect(err.code).toBe('malformed_metadata');
  expect(err.message).toMatch(field);
}

// ---------------------------------------------------------------------------------------------
// I1-I6: traversal over delegation graphs (python-tuf test_graph_traversal, same graphs, same order).

interface GraphCase {
  readonly id: string;
  readonly name: string;
  readonly edges: readonly Edge[];
  readonly visited: readonly string[];
}

const GRAPHS: readonly GraphCase[] = [
  { id: 'I1', name: 'basic delegation', edges: [{ delegator: 'targets', name: 'A' }], visited: ['A'] },
  {
    id: 'I1',
    name: 'single level delegations are visited in listed order',
    edges: [
      { delegator: 'targets', name: 'A' },
      { delegator: 'targets', name: 'B' },
    ],
    visited: ['A', 'B'],
  },
  {
    id: 'I1',
    name: 'two-level delegations',
    edges: [
      { delegator: 'targets', name: 'A' },
      { delegator: 'targets', name: 'B' },
      { delegator: 'B', name: 'C' },
    ],
    visited: ['A', 'B', 'C'],
  },
  {
    id: 'I1',
    name: 'two-level depth-first preorder (A, C, D before B)',
    edges: [
      { delegator: 'targets', name: 'A' },
      { delegator: 'targets', name: 'B' },
      { delegator: 'A', name: 'C' },
      { delegator: 'A', name: 'D' },
    ],
    visited: ['A', 'C', 'D', 'B'],
  },
  {
    id: 'I1',
    name: 'three-level depth-first preorder (A, C, D before B)',
    edges: [
      { delegator: 'targets', name: 'A' },
      { delegator: 'targets', name: 'B' },
      { delegator: 'A', name: 'C' },
      { delegator: 'C', name: 'D' },
    ],
    visited: ['A', 'C', 'D', 'B'],
  },
  {
    id: 'I2',
    name: "two-level terminating ignores all but the role's descendants",
    edges: [
      { delegator: 'targets', name: 'A' },
      { delegator: 'targets', name: 'B' },
      { delegator: 'A', name: 'C', terminating: true },
      { delegator: 'A', name: 'D' },
    ],
    visited: ['A', 'C'],
  },
  {
    id: 'I2',
    name: "three-level terminating ignores all but the role's descendants",
    edges: [
      { delegator: 'targets', name: 'A' },
      { delegator: 'targets', name: 'B' },
      { delegator: 'A', name: 'C', terminating: true },
      { delegator: 'C', name: 'D' },
    ],
    visited: ['A', 'C', 'D'],
  },
  {
    id: 'I3',
    name: "two-level ignores all branches not matching 'paths'",
    edges: [
      { delegator: 'targets', name: 'A', paths: ['*.py'] },
      { delegator: 'targets', name: 'B' },
      { delegator: 'A', name: 'C' },
    ],
    visited: ['B'],
  },
  {
    id: 'I3',
    name: "three-level ignores all branches not matching 'paths'",
    edges: [
      { delegator: 'targets', name: 'A' },
      { delegator: 'targets', name: 'B' },
      { delegator: 'A', name: 'C', paths: ['*.py'] },
      { delegator: 'C', name: 'D' },
    ],
    visited: ['A', 'B'],
  },
  {
    id: 'I4',
    name: 'a cyclic graph terminates and visits each role once',
    edges: [
      { delegator: 'targets', name: 'A' },
      { delegator: 'targets', name: 'B' },
      { delegator: 'B', name: 'C' },
      { delegator: 'C', name: 'D' },
      { delegator: 'D', name: 'B' },
    ],
    visited: ['A', 'B', 'C', 'D'],
  },
  {
    id: 'I4',
    name: 'a role delegating to itself terminates',
    edges: [
      { delegator: 'targets', name: 'A' },
      { delegator: 'A', name: 'A' },
      { delegator: 'targets', name: 'B' },
    ],
    visited: ['A', 'B'],
  },
  {
    id: 'I5',
    name: 'two roles delegating to a third: the third is reached through the first and visited once',
    edges: [
      { delegator: 'targets', name: 'A' },
      { delegator: 'targets', name: 'B' },
      { delegator: 'B', name: 'C' },
      { delegator: 'A', name: 'C' },
    ],
    visited: ['A', 'C', 'B'],
  },
  {
    id: 'I5',
    name: "two roles delegating to a third with different 'paths': reached through the one that matches",
    edges: [
      { delegator: 'targets', name: 'A' },
      { delegator: 'targets', name: 'B' },
      { delegator: 'B', name: 'C' },
      { delegator: 'A', name: 'C', paths: ['*.py'] },
    ],
    visited: ['A', 'B', 'C'],
  },
];

/** The error an async action rejects with, or a test failure when it resolves. */
async function rejectionOf(action: () => Promise<unknown>): Promise<UptaneError> {
  try {
    await action();
  } catch (err) {
    expect(err).toBeInstanceOf(UptaneError);
    return err as UptaneError;
  }
  throw new Error('expected the call to reject');
}

describe('delegation graph traversal (python-tuf graph cases, maxDelegations 4)', () => {
  for (const graph of GRAPHS) {
    it(`${graph.id}: ${graph.name}`, async () => {
      const sim = buildRepository(graph.edges);
      const client = newClient(sim, { config: { maxDelegations: 4 } });
      const updater = await refreshed(client, sim);
      expect(storedRoles(client)).toEqual(TOP_LEVEL_FILES);

      // A name nobody lists makes the updater walk every applicable role, in search order.
      const err = await rejectionOf(() => updater.findTarget('missingpath'));
      expect(err).toBeInstanceOf(TargetNotFoundError);
      expect(err.code).toBe('target_not_found');
      expect(fetchedRoles(sim)).toEqual(graph.visited);
      // Every visited role verified and was persisted; nothing else was.
      expect(storedRoles(client)).toEqual([...TOP_LEVEL_FILES, ...graph.visited].sort());
    });
  }
});

// ---------------------------------------------------------------------------------------------
// I1-I3: finding targets (python-tuf TestTargetFileSearch, same tree).
//
//             targets
//   *.doc, *.md /  \ releases/*/*
//              A    B
//   releases/x/* /  \ releases/y/*.zip
//               C    D

function searchTree(): RepositorySimulator {
  const sim = new RepositorySimulator();
  delegate(sim, { delegator: 'targets', name: 'A', paths: ['*.doc', '*.md'] });
  delegate(sim, { delegator: 'targets', name: 'B', paths: ['releases/*/*'] });
  delegate(sim, { delegator: 'B', name: 'C', paths: ['releases/x/*'] });
  delegate(sim, { delegator: 'B', name: 'D', paths: ['releases/y/*.zip'] });
  sim.addTarget('targetfile', 'targetfile content');
  sim.addTarget('README.md', 'README by A', undefined, 'A');
  sim.addTarget('releases/x/x_v1', 'x release by C', undefined, 'C');
  sim.addTarget('releases/y/y_v1.zip', 'y release by D', undefined, 'D');
  sim.addTarget('releases/z/z_v1.zip', 'z release by D', undefined, 'D');
  sim.release();
  return sim;
}

describe('target search through delegations', () => {
  it('I1: a target listed by top-level targets is found without fetching any delegated role', async () => {
    const sim = searchTree();
    const updater = await refreshed(newClient(sim), sim);
    const found = await updater.findTarget('targetfile');
    expect(found.role).toBe('targets');
    expect(found.target.hashes.sha256).toBe(sha256('targetfile content'));
    expect(fetchedRoles(sim)).toEqual([]);
  });

  it('I3: a name matching a wildcard path is found in the one role delegated for it', async () => {
    const sim = searchTree();
    const updater = await refreshed(newClient(sim), sim);
    const found = await updater.findTarget('README.md');
    expect(found.role).toBe('A');
    expect(found.target.hashes.sha256).toBe(sha256('README by A'));
    expect(fetchedRoles(sim)).toEqual(['A']);
  });

  it('I1: a name with separators is found two levels down (B, then C)', async () => {
    const sim = searchTree();
    const updater = await refreshed(newClient(sim), sim);
    const found = await updater.findTarget('releases/x/x_v1');
    expect(found.role).toBe('C');
    expect(found.target.hashes.sha256).toBe(sha256('x release by C'));
    expect(fetchedRoles(sim)).toEqual(['B', 'C']);
  });

  it('I1: a name matching a pattern with an extension is found two levels down (B, then D)', async () => {
    const sim = searchTree();
    const updater = await refreshed(newClient(sim), sim);
    const found = await updater.findTarget('releases/y/y_v1.zip');
    expect(found.role).toBe('D');
    expect(found.target.hashes.sha256).toBe(sha256('y release by D'));
    expect(fetchedRoles(sim)).toEqual(['B', 'D']);
  });

  it('I3: a target not delegated along the whole chain is not found, though a role lists it', async () => {
    const sim = searchTree();
    const client = newClient(sim);
    const updater = await refreshed(client, sim);
    // D lists releases/z/z_v1.zip, but B delegates only releases/y/*.zip to D.
    await updater.findTarget('releases/x/x_v1'); // loads B and C, so the rejection below changes nothing
    sim.fetchLog.length = 0;
    await expectRejected(client, () => updater.findTarget('releases/z/z_v1.zip'), TargetNotFoundError, 'target_not_found');
    expect(fetchedRoles(sim)).toEqual([]);
    expect(storedRoles(client)).not.toContain('D');
    // The honest lookup through D still works.
    expect((await updater.findTarget('releases/y/y_v1.zip')).role).toBe('D');
  });

  it('I3: a delegated role cannot serve a target outside its delegated paths', async () => {
    const sim = new RepositorySimulator();
    delegate(sim, { delegator: 'targets', name: 'A', paths: ['a/*'] });
    sim.addTarget('a/ok.bin', 'honest image of A', undefined, 'A');
    sim.addTarget('b/evil.bin', 'image A may not sign', undefined, 'A');
    sim.release();
    const client = newClient(sim);
    const updater = await refreshed(client, sim);

    // Not through a fresh search (A is never even fetched) ...
    await expectRejected(client, () => updater.findTarget('b/evil.bin'), TargetNotFoundError, 'target_not_found');
    expect(fetchedRoles(sim)).toEqual([]);
    // ... nor once A is trusted and loaded.
    expect((await updater.findTarget('a/ok.bin')).role).toBe('A');
    expect(fetchedRoles(sim)).toEqual(['A']);
    await expectRejected(client, () => updater.findTarget('b/evil.bin'), TargetNotFoundError, 'target_not_found');
    // ... nor after a restart, with A in the store.
    const restarted = await refreshed(client, sim);
    await expectRejected(client, () => restarted.findTarget('b/evil.bin'), TargetNotFoundError, 'target_not_found');
  });

  it('I3: a child delegated "*" by a parent delegated "a/*" still serves only a/*', async () => {
    const sim = new RepositorySimulator();
    delegate(sim, { delegator: 'targets', name: 'A', paths: ['a/*'] });
    delegate(sim, { delegator: 'A', name: 'C', paths: ['*', '*/*'] });
    sim.addTarget('a/fw.bin', 'C image under a/', undefined, 'C');
    sim.addTarget('b/fw.bin', 'C image outside a/', undefined, 'C');
    sim.release();
    const client = newClient(sim);
    const updater = await refreshed(client, sim);

    const found = await updater.findTarget('a/fw.bin');
    expect(found.role).toBe('C');
    expect(fetchedRoles(sim)).toEqual(['A', 'C']);
    await expectRejected(client, () => updater.findTarget('b/fw.bin'), TargetNotFoundError, 'target_not_found');
  });

  it('I2: a terminating delegation that does not match the name does not stop the search', async () => {
    const sim = new RepositorySimulator();
    delegate(sim, { delegator: 'targets', name: 'A', terminating: true, paths: ['a/*'] });
    delegate(sim, { delegator: 'targets', name: 'B', paths: ['b/*'] });
    sim.addTarget('b/fw.bin', 'image of B', undefined, 'B');
    sim.release();
    const updater = await refreshed(newClient(sim), sim);
    const found = await updater.findTarget('b/fw.bin');
    expect(found.role).toBe('B');
    expect(fetchedRoles(sim)).toEqual(['B']);
  });

  it('I2: a terminating delegation that matches ends the search even when its role lists nothing', async () => {
    const sim = new RepositorySimulator();
    delegate(sim, { delegator: 'targets', name: 'A', paths: ['fw/*'] });
    delegate(sim, { delegator: 'A', name: 'C', terminating: true, paths: ['fw/*'] });
    delegate(sim, { delegator: 'A', name: 'D', paths: ['fw/*'] });
    delegate(sim, { delegator: 'targets', name: 'B', paths: ['fw/*'] });
    sim.addTarget('fw/ecu.bin', 'listed by D', undefined, 'D');
    sim.addTarget('fw/ecu.bin', 'listed by B', undefined, 'B');
    sim.release();
    const client = newClient(sim);
    const updater = await refreshed(client, sim);
    expect(await rejectionOf(() => updater.findTarget('fw/other.bin'))).toBeInstanceOf(TargetNotFoundError);
    expect(fetchedRoles(sim)).toEqual(['A', 'C']); // A and C are loaded now
    sim.fetchLog.length = 0;

    await expectRejected(client, () => updater.findTarget('fw/ecu.bin'), TargetNotFoundError, 'target_not_found');
    expect(fetchedRoles(sim)).toEqual([]); // neither D nor B
    expect(storedRoles(client)).toEqual([...TOP_LEVEL_FILES, 'A', 'C'].sort());
  });
});

// ---------------------------------------------------------------------------------------------
// Uptane #delegation_resolution step 4.1: hardware ids on a delegation.

function hardwareRepository(): RepositorySimulator {
  const sim = new RepositorySimulator();
  delegate(sim, { delegator: 'targets', name: 'brake-supplier', paths: ['fw.bin'], hardwareIds: ['brake-ecu'] });
  delegate(sim, { delegator: 'targets', name: 'generic', paths: ['fw.bin'] });
  sim.addTarget('fw.bin', 'brake firmware', { hardwareIds: ['brake-ecu'] }, 'brake-supplier');
  sim.addTarget('fw.bin', 'generic firmware', { hardwareIds: ['infotainment'] }, 'generic');
  sim.release();
  return sim;
}

describe('delegations restricted to hardware ids (Uptane #delegation_resolution 4.1)', () => {
  it('I3: a delegation listing hardwareIds applies to a lookup for one of them', async () => {
    const sim = hardwareRepository();
    const updater = await refreshed(newClient(sim), sim);
    const found = await updater.findTarget('fw.bin', ['brake-ecu']);
    expect(found.role).toBe('brake-supplier');
    expect(found.target.hashes.sha256).toBe(sha256('brake firmware'));
    expect(fetchedRoles(sim)).toEqual(['brake-supplier']);
  });

  it('I3: a delegation listing hardwareIds is skipped for a lookup for another hardware id', async () => {
    const sim = hardwareRepository();
    const updater = await refreshed(newClient(sim), sim);
    const found = await updater.findTarget('fw.bin', ['infotainment']);
    expect(found.role).toBe('generic');
    expect(found.target.hashes.sha256).toBe(sha256('generic firmware'));
    expect(fetchedRoles(sim)).toEqual(['generic']); // the brake supplier's role is never fetched
  });

  it('I3: a delegation listing hardwareIds does not apply to a lookup that names no hardware id', async () => {
    const sim = hardwareRepository();
    const updater = await refreshed(newClient(sim), sim);
    // Fail closed: nothing shows the image is for one of the listed hardware ids.
    const found = await updater.findTarget('fw.bin');
    expect(found.role).toBe('generic');
    expect(fetchedRoles(sim)).toEqual(['generic']);
  });
});

// ---------------------------------------------------------------------------------------------
// I5-I7.

/**
 * targets -> A (a/*) -> C, targets -> B (b/*) -> C, with A and B naming different keys for C; C is
 * signed by A's key only. Returns both keys.
 */
function diamondRepository(): { sim: RepositorySimulator; keyViaA: PrivateKey; keyViaB: PrivateKey } {
  const sim = new RepositorySimulator();
  delegate(sim, { delegator: 'targets', name: 'A', paths: ['a/*'] });
  delegate(sim, { delegator: 'targets', name: 'B', paths: ['b/*'] });
  sim.addDelegation('B', { name: 'C', terminating: false, paths: ['*/*'] });
  const keyViaB = sim.signers.get('C')![0]!;
  sim.addDelegation('A', { name: 'C', terminating: false, paths: ['*/*'] });
  const keyViaA = sim.signers.get('C')![0]!;
  expect(keyViaA.keyid).not.toBe(keyViaB.keyid);
  sim.signers.set('C', [keyViaA]);
  sim.addTarget('a/fw.bin', 'C image under a/', undefined, 'C');
  sim.addTarget('b/fw.bin', 'C image under b/', undefined, 'C');
  sim.addTarget('b/own.bin', 'B image', undefined, 'B');
  sim.release();
  return { sim, keyViaA, keyViaB };
}

describe('diamonds, limits and invalid roles', () => {
  it('I5: a cached role reached through a second delegator is re-verified under that delegator', async () => {
    const { sim, keyViaA, keyViaB } = diamondRepository();
    const client = newClient(sim);
    const updater = await refreshed(client, sim);
    expect((await updater.findTarget('a/fw.bin')).role).toBe('C'); // C verified under A's delegation
    expect((await updater.findTarget('b/own.bin')).role).toBe('B');
    expect(fetchedRoles(sim)).toEqual(['A', 'C', 'B']);
    sim.fetchLog.length = 0;

    // Through B, C must carry B's key; the copy verified under A must not be reused.
    const err = await expectRejected(client, () => updater.findTarget('b/fw.bin'), UnmetThresholdError, 'unmet_threshold');
    expect(err.role).toBe('C');
    expect(fetchedRoles(sim)).toEqual([]); // it was the cached copy that was checked, and refused

    // Once C is signed for both delegations, both lookups succeed.
    sim.signers.set('C', [keyViaA, keyViaB]);
    sim.release('C');
    const honest = await refreshed(client, sim);
    const viaB = await honest.findTarget('b/fw.bin');
    expect(viaB.role).toBe('C');
    expect(viaB.target.hashes.sha256).toBe(sha256('C image under b/'));
    expect((await honest.findTarget('a/fw.bin')).role).toBe('C');
  });

  it('I6: the search stops after maxDelegations delegated roles (python-tuf: E is skipped at 4)', async () => {
    const sim = buildRepository([
      { delegator: 'targets', name: 'A' },
      { delegator: 'targets', name: 'B' },
      { delegator: 'targets', name: 'C' },
      { delegator: 'C', name: 'D' },
      { delegator: 'C', name: 'E' },
    ]);
    sim.addTarget('fw.bin', 'only E lists it', undefined, 'E');
    sim.release('E');
    const client = newClient(sim, { config: { maxDelegations: 4 } });
    const updater = await refreshed(client, sim);
    // Giving up is not "not found": the graph is past the configured limit.
    const err = await rejectionOf(() => updater.findTarget('fw.bin'));
    expect(err).toBeInstanceOf(DelegationError);
    expect(err.code).toBe('delegation');
    expect(fetchedRoles(sim)).toEqual(['A', 'B', 'C', 'D']);
    expect(storedRoles(client)).not.toContain('E');
    // With room for one more role, the same lookup succeeds.
    const roomier = newClient(sim, { config: { maxDelegations: 5 } });
    expect((await (await refreshed(roomier, sim)).findTarget('fw.bin')).role).toBe('E');
  });

  it('I6: the default cap is 32 delegated roles per lookup', async () => {
    const chain: Edge[] = [];
    for (let i = 1; i <= 40; i++) chain.push({ delegator: i === 1 ? 'targets' : `r${i - 1}`, name: `r${i}` });
    const sim = buildRepository(chain);
    sim.addTarget('deep.bin', 'listed at depth 33', undefined, 'r33');
    sim.addTarget('shallow.bin', 'listed at depth 32', undefined, 'r32');
    sim.release('r33');
    const client = newClient(sim);
    const updater = await refreshed(client, sim);

    expect((await updater.findTarget('shallow.bin')).role).toBe('r32');
    expect(fetchedRoles(sim)).toEqual(Array.from({ length: 32 }, (_, i) => `r${i + 1}`));
    sim.fetchLog.length = 0;
    await expectRejected(client, () => updater.findTarget('deep.bin'), DelegationError, 'delegation');
    expect(fetchedRoles(sim)).toEqual([]); // r33 is never fetched
  });

  it('I7: an unsigned delegated role stops the traversal and is not persisted', async () => {
    const sim = buildRepository([
      { delegator: 'targets', name: 'invalid' },
      { delegator: 'targets', name: 'B' },
      { delegator: 'invalid', name: 'C' },
    ]);
    const invalidKeys = sim.signers.get('invalid')!;
    sim.addTarget('fw.bin', 'image of B', undefined, 'B');
    sim.release('B');
    sim.signers.set('invalid', []);
    const client = newClient(sim);
    const updater = await refreshed(client, sim);

    const err = await expectRejected(client, () => updater.findTarget('fw.bin'), UnmetThresholdError, 'unmet_threshold');
    expect(err.role).toBe('invalid');
    expect(fetchedRoles(sim)).toEqual(['invalid']); // neither C nor B after it
    expect(storedRoles(client)).toEqual(TOP_LEVEL_FILES);

    // Signed again, the same updater finds the target past it.
    sim.signers.set('invalid', invalidKeys);
    sim.fetchLog.length = 0;
    expect((await updater.findTarget('fw.bin')).role).toBe('B');
    expect(fetchedRoles(sim)).toEqual(['invalid', 'C', 'B']);
  });
});

// ---------------------------------------------------------------------------------------------
// I8: pattern semantics (python-tuf test_is_target_in_pathpattern and more).

describe('delegation path patterns', () => {
  it("I8: python-tuf's 10 valid name/pattern pairs match", () => {
    const valid: Array<[string, string]> = [
      ['foo.tgz', 'foo.tgz'],
      ['foo.tgz', '*'],
      ['foo.tgz', '*.tgz'],
      ['foo-version-a.tgz', 'foo-version-?.tgz'],
      ['targets/foo.tgz', 'targets/*.tgz'],
      ['foo/bar/zoo/k.tgz', 'foo/bar/zoo/*'],
      ['foo/bar/zoo/k.tgz', 'foo/*/zoo/*'],
      ['foo/bar/zoo/k.tgz', '*/*/*/*'],
      ['foo/bar', 'f?o/bar'],
      ['foo/bar', '*o/bar'],
    ];
    for (const [name, pattern] of valid) expect([name, pattern, matchesPathPattern(name, pattern)]).toEqual([name, pattern, true]);
  });

  it("I8: python-tuf's 6 invalid name/pattern pairs do not match", () => {
    const invalid: Array<[string, string]> = [
      ['targets/foo.tgz', '*.tgz'],
      ['/foo.tgz', '*.tgz'],
      ['targets/foo.tgz', '*'],
      ['foo-version-alpha.tgz', 'foo-version-?.tgz'],
      ['foo//bar', '*/bar'],
      ['foo/bar', 'f?/bar'],
    ];
    for (const [name, pattern] of invalid) expect([name, pattern, matchesPathPattern(name, pattern)]).toEqual([name, pattern, false]);
  });

  it('I8: matching is case-sensitive on every OS (GHSA-qp9x-wp8f-qgjj)', () => {
    expect(matchesPathPattern('foo.tgz', 'foo.tgz')).toBe(true);
    expect(matchesPathPattern('Foo.tgz', 'foo.tgz')).toBe(false);
    expect(matchesPathPattern('foo.TGZ', '*.tgz')).toBe(false);
    expect(matchesPathPattern('FW/brake.bin', 'fw/*')).toBe(false);
    expect(matchesPathPattern('fw/brake.bin', 'FW/*')).toBe(false);
    expect(matchesPathPattern('A.bin', '[a-z].bin')).toBe(false);
  });

  it('I8: * and ? never match /, and ? matches exactly one character', () => {
    expect(matchesPathPattern('a/b', '*')).toBe(false);
    expect(matchesPathPattern('a/b', 'a*')).toBe(false);
    expect(matchesPathPattern('a/b/c', 'a/*')).toBe(false);
    expect(matchesPathPattern('a/b', 'a?b')).toBe(false);
    expect(matchesPathPattern('ab', 'a?')).toBe(true);
    expect(matchesPathPattern('a', 'a?')).toBe(false);
    expect(matchesPathPattern('abc', 'a?')).toBe(false);
    expect(matchesPathPattern('a', 'a*')).toBe(true); // * may match nothing
  });

  it('I8: pattern and name must have the same number of segments', () => {
    expect(matchesPathPattern('foo/bar', 'foo/bar/*')).toBe(false);
    expect(matchesPathPattern('foo/bar/baz', 'foo/*')).toBe(false);
    expect(matchesPathPattern('foo/', 'foo/*')).toBe(true); // an empty last segment is still a segment
    expect(matchesPathPattern('foo', 'foo/*')).toBe(false);
    expect(matchesPathPattern('x/foo.tgz', '/*.tgz')).toBe(false);
    // A negated class would match "/" inside one segment if segments were not counted.
    expect(matchesPathPattern('a/b', 'a[!x]b')).toBe(false);
    expect(matchesPathPattern('a.b', 'a[!x]b')).toBe(true);
  });

  it('I8: character classes and negated classes match one character, as fnmatch does', () => {
    expect(matchesPathPattern('v1.bin', 'v[0-9].bin')).toBe(true);
    expect(matchesPathPattern('va.bin', 'v[0-9].bin')).toBe(false);
    expect(matchesPathPattern('va.bin', 'v[!0-9].bin')).toBe(true);
    expect(matchesPathPattern('v1.bin', 'v[!0-9].bin')).toBe(false);
    expect(matchesPathPattern('v12.bin', 'v[0-9].bin')).toBe(false);
    expect(matchesPathPattern(']', '[]]')).toBe(true); // a leading ] is a member
    expect(matchesPathPattern('[]', '[]')).toBe(true); // no closing bracket: literal
    // fnmatch: in "[!]x]" the ] after ! is a member, so the class is "not ] and not x".
    expect(matchesPathPattern('q', '[!]x]')).toBe(true);
    expect(matchesPathPattern('x', '[!]x]')).toBe(false);
    expect(matchesPathPattern(']', '[!]x]')).toBe(false);
    // fnmatch: "[!]" never closes, so it is three literal characters.
    expect(matchesPathPattern('[!]', '[!]')).toBe(true);
    expect(matchesPathPattern('a', '[!]')).toBe(false);
  });

  it('I8: regular-expression syntax in a pattern is literal text', () => {
    expect(matchesPathPattern('fooXtgz', 'foo.tgz')).toBe(false);
    expect(matchesPathPattern('a+b.bin', 'a+b.bin')).toBe(true);
    expect(matchesPathPattern('aab.bin', 'a+b.bin')).toBe(false);
    expect(matchesPathPattern('(x)|y', '(x)|y')).toBe(true);
    expect(matchesPathPattern('x', '(x)|y')).toBe(false);
    expect(matchesPathPattern('a{2}', 'a{2}')).toBe(true);
    expect(matchesPathPattern('aa', 'a{2}')).toBe(false);
    expect(matchesPathPattern('$^', '$^')).toBe(true);
    expect(matchesPathPattern('a\\b', 'a\\b')).toBe(true);
  });

  it('I8: a pattern with a reversed range matches nothing and never throws', () => {
    // fnmatch drops empty ranges; a RegExp would throw SyntaxError on them.
    expect(matchesPathPattern('x', '[z-a]')).toBe(false);
    expect(matchesPathPattern('a', '[z-a]')).toBe(false);
    expect(matchesPathPattern('a', '[a-\\]')).toBe(false);
  });

  it('I8: a delegation with a reversed range is skipped by the updater, not a crash', async () => {
    const sim = new RepositorySimulator();
    delegate(sim, { delegator: 'targets', name: 'A', paths: ['fw/[z-a].bin'] });
    delegate(sim, { delegator: 'targets', name: 'B', paths: ['fw/*'] });
    sim.addTarget('fw/x.bin', 'image of B', undefined, 'B');
    sim.release();
    const updater = await refreshed(newClient(sim), sim);
    expect((await updater.findTarget('fw/x.bin')).role).toBe('B');
    expect(fetchedRoles(sim)).toEqual(['B']);
  });
});

// ---------------------------------------------------------------------------------------------
// I9: hash bins (TAP 15 succinct roles, and path_hash_prefixes).

/** The bin a name falls in, computed independently of shared/: the first 32 bits of SHA-256. */
function expectedBin(name: string, bitLength: number): number {
  return createHash('sha256').update(name).digest().readUInt32BE(0) >>> (32 - bitLength);
}

describe('hash-bin delegations', () => {
  it('I9: bin role names for bit_length 1..32 are the prefix and the bin in hex, zero-padded to ceil(bits/4) digits', () => {
    for (let bits = 1; bits <= 32; bits++) {
      const succinct: SuccinctRoles = { keyids: [], threshold: 1, bit_length: bits, name_prefix: 'bins' };
      const digits = Math.ceil(bits / 4);
      const last = 2 ** bits - 1;
      expect(succinctRoleName(succinct, 0)).toBe(`bins-${'0'.repeat(digits)}`);
      expect(succinctRoleName(succinct, last)).toBe(`bins-${last.toString(16).padStart(digits, '0')}`);
      expect(succinctRoleName(succinct, last).length).toBe('bins-'.length + digits);
      expect(isSuccinctRoleName(succinct, succinctRoleName(succinct, 0))).toBe(true);
      expect(isSuccinctRoleName(succinct, succinctRoleName(succinct, last))).toBe(true);
      // One past the last bin does not exist.
      expect(isSuccinctRoleName(succinct, `bins-${(last + 1).toString(16).padStart(digits, '0')}`)).toBe(false);
      for (const name of ['missingpath', 'bar', 'fw/brake.bin', 'ö/ü']) {
        expect(succinctRoleFor(succinct, name)).toBe(succinctRoleName(succinct, expectedBin(name, bits)));
      }
    }
    const max: SuccinctRoles = { keyids: [], threshold: 1, bit_length: 32, name_prefix: 'bins' };
    expect(succinctRoleName(max, 2 ** 32 - 1)).toBe('bins-ffffffff');
  });

  it("I9: python-tuf's known bins: missingpath, othermissingpath, foo, doo, bar", () => {
    const bin = (bits: number, name: string) => succinctRoleFor({ keyids: [], threshold: 1, bit_length: bits, name_prefix: 'delegated' }, name);
    expect(bin(1, 'othermissingpath')).toBe('delegated-0');
    expect(bin(1, 'missingpath')).toBe('delegated-1');
    expect(bin(2, 'foo')).toBe('delegated-0');
    expect(bin(2, 'doo')).toBe('delegated-1');
    expect(bin(2, 'missingpath')).toBe('delegated-2');
    expect(bin(2, 'bar')).toBe('delegated-3');
    expect(bin(8, 'bar')).toBe('delegated-fc');
  });

  const SUCCINCT_CASES: ReadonlyArray<{ bits: number; name: string; bin: string }> = [
    { bits: 1, name: 'othermissingpath', bin: 'delegated-0' },
    { bits: 1, name: 'missingpath', bin: 'delegated-1' },
    { bits: 2, name: 'foo', bin: 'delegated-0' },
    { bits: 2, name: 'doo', bin: 'delegated-1' },
    { bits: 2, name: 'missingpath', bin: 'delegated-2' },
    { bits: 2, name: 'bar', bin: 'delegated-3' },
    { bits: 8, name: 'bar', bin: 'delegated-fc' },
  ];
  for (const c of SUCCINCT_CASES) {
    it(`I9: a lookup of "${c.name}" under bit_length ${c.bits} fetches only ${c.bin}`, async () => {
      const sim = new RepositorySimulator();
      addSuccinctDelegation(sim, 'targets', c.bits, 'delegated');
      sim.updateSnapshot();
      const client = newClient(sim);
      const updater = await refreshed(client, sim);
      const err = await rejectionOf(() => updater.findTarget(c.name));
      expect(err).toBeInstanceOf(TargetNotFoundError);
      expect(fetchedRoles(sim)).toEqual([c.bin]);
      expect(storedRoles(client)).toEqual([...TOP_LEVEL_FILES, c.bin].sort());
    });
  }

  it('I9: a target is found in its bin under a 32-bit succinct delegation, and only there', async () => {
    const name = 'fw/brake.bin';
    const other = 'fw/other.bin';
    const succinct: SuccinctRoles = { keyids: [], threshold: 1, bit_length: 32, name_prefix: 'bins' };
    const bin = succinctRoleName(succinct, expectedBin(name, 32));
    const otherBin = succinctRoleName(succinct, expectedBin(other, 32));
    expect(otherBin).not.toBe(bin);
    const sim = new RepositorySimulator();
    addSuccinctDelegation(sim, 'targets', 32, 'bins', [bin, otherBin]);
    sim.addTarget(name, 'brake image', undefined, bin);
    sim.addTarget(other, 'listed in a bin it does not hash to', undefined, bin);
    sim.updateSnapshot();
    const client = newClient(sim);
    const updater = await refreshed(client, sim);

    const found = await updater.findTarget(name);
    expect(found.role).toBe(bin);
    expect(found.target.hashes.sha256).toBe(sha256('brake image'));
    expect(fetchedRoles(sim)).toEqual([bin]);
    sim.fetchLog.length = 0;
    // Its own bin does not list it, and the bin that does is not responsible for it.
    const err = await rejectionOf(() => updater.findTarget(other));
    expect(err).toBeInstanceOf(TargetNotFoundError);
    expect(err.code).toBe('target_not_found');
    expect(fetchedRoles(sim)).toEqual([otherBin]);
  });

  it('I9: a name that is not one of the bins is not delegated (GHSA-77hh-43cm-v8j6)', () => {
    const key = PrivateKey.fromLabel('delegations-test/bins');
    const succinct: SuccinctRoles = { keyids: [key.keyid], threshold: 1, bit_length: 3, name_prefix: 'prefix' };
    const delegator: TargetsSigned = {
      _type: 'targets',
      spec_version: SPEC_VERSION,
      version: 1,
      expires: SIM_EXPIRES,
      targets: {},
      delegations: { keys: { [key.keyid]: key.publicKey.tuf }, succinct_roles: succinct },
    };
    for (let bin = 0; bin < 8; bin++) {
      expect(delegatedAuthority(delegator, 'targets', `prefix-${bin}`, {}).keyids).toEqual([key.keyid]);
    }
    for (const name of ['prefix-', 'prefix--1', 'prefix-8', 'prefix-08', 'prefix-00', 'prefix-A', 'prefix-+1', 'prefix- 1', 'prefix-0x1', 'prefix', 'other-1', 'prefix-1-1', 'Prefix-1']) {
      const err = thrownBy(() => delegatedAuthority(delegator, 'targets', name, {}));
      expect([name, err.code]).toEqual([name, 'delegation']);
      expect(err).toBeInstanceOf(DelegationError);
    }
  });

  it('I9: path_hash_prefixes delegations are visited by prefix of the name hash, in listed order', async () => {
    const sim = buildRepository([
      { delegator: 'targets', name: 'role1', path_hash_prefixes: ['8', '9', 'a', 'b'] },
      { delegator: 'targets', name: 'role2', path_hash_prefixes: ['0', '1', '2', '3'] },
      { delegator: 'targets', name: 'role3', path_hash_prefixes: ['c', 'd', 'e', 'f'] },
    ]);
    const client = newClient(sim);
    const updater = await refreshed(client, sim);
    for (const name of ['missingpath', 'othermissingpath', 'thirdmissingpath']) {
      expect(await rejectionOf(() => updater.findTarget(name))).toBeInstanceOf(TargetNotFoundError);
    }
    expect(fetchedRoles(sim)).toEqual(['role1', 'role2', 'role3']);
    expect(storedRoles(client)).toEqual([...TOP_LEVEL_FILES, 'role1', 'role2', 'role3'].sort());
  });
});

// ---------------------------------------------------------------------------------------------
// I10: invalid delegation structures (python-tuf SER invalid_delegations, invalid_delegated_roles,
// invalid_succinct_roles).

describe('invalid delegation structures', () => {
  it('I10: well-formed delegations parse (so the cases below fail for their one defect)', () => {
    expect(parseMetadata(targetsBytes({ keys: SCHEMA_KEYS, roles: [schemaRole({})] }), 'targets').signed.delegations?.roles?.[0]?.name).toBe('a');
    expect(parseMetadata(targetsBytes({ keys: SCHEMA_KEYS, roles: [schemaRole({ paths: undefined, path_hash_prefixes: ['0a'] })] }), 'targets')).toBeDefined();
    expect(parseMetadata(targetsBytes({ keys: SCHEMA_KEYS, succinct_roles: schemaSuccinct({}) }), 'targets')).toBeDefined();
    expect(parseMetadata(targetsBytes({ keys: SCHEMA_KEYS, succinct_roles: schemaSuccinct({ bit_length: 1 }) }), 'targets')).toBeDefined();
    expect(parseMetadata(targetsBytes({ keys: SCHEMA_KEYS, succinct_roles: schemaSuccinct({ bit_length: 32 }) }), 'targets')).toBeDefined();
    expect(parseMetadata(targetsBytes({ keys: {}, roles: [] }), 'targets')).toBeDefined();
  });

  it('I10: a delegated role with both paths and path_hash_prefixes is malformed', () => {
    expectMalformedDelegations({ keys: SCHEMA_KEYS, roles: [schemaRole({ path_hash_prefixes: ['0a'] })] }, /exactly one of paths and path_hash_prefixes/);
  });

  it('I10: a delegated role with neither paths nor path_hash_prefixes is malformed', () => {
    expectMalformedDelegations({ keys: SCHEMA_KEYS, roles: [schemaRole({ paths: undefined })] }, /exactly one of paths and path_hash_prefixes/);
  });

  it('I10: a top-level role name used as a delegate name is malformed', () => {
    for (const name of ['root', 'timestamp', 'snapshot', 'targets']) {
      expectMalformedDelegations({ keys: SCHEMA_KEYS, roles: [schemaRole({ name })] }, /top-level role name/);
      // Also after a valid role, as in python-tuf's "using valid and top-level role name".
      expectMalformedDelegations({ keys: SCHEMA_KEYS, roles: [schemaRole({ name: 'b' }), schemaRole({ name })] }, /roles\[1\]\.name/);
    }
  });

  it('I10: an empty delegate name is malformed', () => {
    expectMalformedDelegations({ keys: SCHEMA_KEYS, roles: [schemaRole({ name: '' })] }, /\.name: must not be empty/);
  });

  it('I10: duplicate role names in one delegations list are malformed', () => {
    expectMalformedDelegations({ keys: SCHEMA_KEYS, roles: [schemaRole({ paths: ['a/*'] }), schemaRole({ paths: ['b/*'] })] }, /delegated twice/);
  });

  it('I10: succinct bit_length 0 or 33 is malformed', () => {
    expectMalformedDelegations({ keys: SCHEMA_KEYS, succinct_roles: schemaSuccinct({ bit_length: 0 }) }, /bit_length: must be at least 1/);
    expectMalformedDelegations({ keys: SCHEMA_KEYS, succinct_roles: schemaSuccinct({ bit_length: 33 }) }, /bit_length: must be at most 32/);
    expectMalformedDelegations({ keys: SCHEMA_KEYS, succinct_roles: schemaSuccinct({ bit_length: 50 }) }, /bit_length/);
    expectMalformedDelegations({ keys: SCHEMA_KEYS, succinct_roles: schemaSuccinct({ bit_length: 'a' }) }, /bit_length: must be an integer/);
  });

  it('I10: succinct roles without bit_length or name_prefix, or with a non-string prefix, are malformed', () => {
    expectMalformedDelegations({ keys: SCHEMA_KEYS, succinct_roles: schemaSuccinct({ bit_length: undefined }) }, /bit_length/);
    expectMalformedDelegations({ keys: SCHEMA_KEYS, succinct_roles: schemaSuccinct({ name_prefix: undefined }) }, /name_prefix/);
    expectMalformedDelegations({ keys: SCHEMA_KEYS, succinct_roles: schemaSuccinct({ name_prefix: 1 }) }, /name_prefix/);
  });

  it('I10: delegations with both roles and succinct_roles, or with neither, are malformed', () => {
    expectMalformedDelegations({ keys: SCHEMA_KEYS, roles: [schemaRole({})], succinct_roles: schemaSuccinct({}) }, /exactly one of roles and succinct_roles/);
    expectMalformedDelegations({ keys: SCHEMA_KEYS }, /exactly one of roles and succinct_roles/);
  });

  it('I10: missing or wrongly typed keys, roles, paths and prefixes are malformed', () => {
    expectMalformedDelegations({}, /signed\.delegations\.keys/);
    expectMalformedDelegations({ roles: [schemaRole({})] }, /signed\.delegations\.keys/);
    expectMalformedDelegations({ keys: 'foo', roles: [schemaRole({})] }, /signed\.delegations\.keys/);
    expectMalformedDelegations({ keys: SCHEMA_KEYS, roles: ['foo'] }, /roles\[0\]: must be an object/);
    expectMalformedDelegations({ keys: SCHEMA_KEYS, roles: [schemaRole({ paths: [1, 2, 3] })] }, /paths\[0\]: must be a string/);
    expectMalformedDelegations({ keys: SCHEMA_KEYS, roles: [schemaRole({ paths: undefined, path_hash_prefixes: [1, 2, 3] })] }, /path_hash_prefixes\[0\]/);
    expectMalformedDelegations({ keys: SCHEMA_KEYS, roles: [schemaRole({ paths: undefined, path_hash_prefixes: ['AB'] })] }, /lowercase hex/);
    expectMalformedDelegations({ keys: SCHEMA_KEYS, roles: [schemaRole({ terminating: 'yes' })] }, /terminating/);
    expectMalformedDelegations({ keys: SCHEMA_KEYS, roles: [schemaRole({ hardwareIds: 'brake-ecu' })] }, /hardwareIds/);
  });

  it('I10: a delegated role whose own delegations are malformed is refused at lookup and not persisted', async () => {
    const sim = new RepositorySimulator();
    delegate(sim, { delegator: 'targets', name: 'A' });
    delegate(sim, { delegator: 'A', name: 'C' });
    sim.addTarget('fw.bin', 'image of C', undefined, 'C');
    sim.release();
    const client = newClient(sim);
    const updater = await refreshed(client, sim);
    expect((await updater.findTarget('fw.bin')).role).toBe('C');

    // A (a role the signer controls) publishes a delegation with both paths and hash prefixes.
    const toC = delegationTo(sim, 'A', 'C');
    toC.path_hash_prefixes = ['0'];
    sim.release('A');
    const next = await refreshed(client, sim);
    await expectRejected(client, () => next.findTarget('fw.bin'), MalformedMetadataError, 'malformed_metadata');

    delete toC.path_hash_prefixes;
    sim.release('A');
    expect((await (await refreshed(client, sim)).findTarget('fw.bin')).role).toBe('C');
  });
});

// ---------------------------------------------------------------------------------------------
// I11, I12: delegated metadata gets every check top-level metadata gets, each with a typed error.
//
// The chain is targets -> A (a/*) -> B (a/*). Each attack starts from a client that already found
// a/fw.bin through it honestly, so a refused lookup must leave the store exactly as it was.

interface Chain {
  readonly sim: RepositorySimulator;
  readonly client: TestClient;
}

async function honestChain(options: SimulatorOptions = {}): Promise<Chain> {
  const sim = new RepositorySimulator(options);
  delegate(sim, { delegator: 'targets', name: 'A', paths: ['a/*'] });
  delegate(sim, { delegator: 'A', name: 'B', paths: ['a/*'] });
  sim.addTarget('a/own.bin', 'image of A', undefined, 'A');
  sim.addTarget('a/fw.bin', 'image of B', undefined, 'B');
  sim.release();
  const client = newClient(sim);
  const updater = await refreshed(client, sim);
  expect((await updater.findTarget('a/fw.bin')).role).toBe('B');
  expect(storedRoles(client)).toEqual([...TOP_LEVEL_FILES, 'A', 'B'].sort());
  return { sim, client };
}

/** The honest chain, then A requires two of two keys for B and B is signed by both; found again. */
async function twoKeyChain(): Promise<Chain> {
  const chain = await honestChain();
  const { sim } = chain;
  const second = addDelegationKey(sim, 'A', 'B');
  delegationTo(sim, 'A', 'B').threshold = 2;
  sim.signers.set('B', [...sim.signers.get('B')!, second]);
  sim.release('A');
  sim.release('B');
  await expectHonestLookup(chain);
  return chain;
}

/** After the repository is fixed: a restarted client finds a/fw.bin through B again. */
async function expectHonestLookup({ sim, client }: Chain): Promise<void> {
  const found = await (await refreshed(client, sim)).findTarget('a/fw.bin');
  expect(found.role).toBe('B');
  expect(found.target.hashes.sha256).toBe(sha256('image of B'));
}

/** B's signed metadata with one change, signed by B's own key: what a man in the middle cannot make, but B's signer can. */
function tamperedB(sim: RepositorySimulator, change: (b: MutableTargets) => void): Buffer {
  const copy = structuredClone(sim.delegated.get('B')!);
  change(copy);
  return sim.sign(copy, sim.signers.get('B')!);
}

describe('delegated metadata gets the top-level checks', () => {
  it('I11: a delegated role stored while valid is refused once it has expired', async () => {
    const chain = await honestChain();
    const { sim, client } = chain;
    sim.delegated.get('B')!.expires = '2026-07-01T00:00:00Z';
    sim.release('B');
    expect((await (await refreshed(client, sim)).findTarget('a/fw.bin')).role).toBe('B'); // stored while valid
    client.clock.set('2026-08-01T00:00:00Z'); // top-level metadata is still valid for a year

    const restarted = await refreshed(client, sim);
    const err = await expectRejected(client, () => restarted.findTarget('a/fw.bin'), ExpiredMetadataError, 'expired');
    expect(err.role).toBe('B');
    expect(fetchedRoles(sim)).toEqual(['B']); // the stored copy was refused, and so was the served one

    sim.delegated.get('B')!.expires = SIM_EXPIRES;
    sim.release('B');
    await expectHonestLookup(chain);
  });

  it("I11: a delegated role shorter than the length snapshot lists is refused", async () => {
    const chain = await honestChain({ computeMetafileHashesAndLength: true });
    const { sim, client } = chain;
    sim.addTarget('a/extra.bin', 'second image of B', undefined, 'B');
    sim.release('B');
    delete sim.delegated.get('B')!.targets['a/extra.bin']; // served bytes no longer what snapshot lists
    const updater = await refreshed(client, sim);
    const err = await expectRejected(client, () => updater.findTarget('a/fw.bin'), LengthMismatchError, 'length_mismatch');
    expect(err.role).toBe('B');

    sim.release('B');
    await expectHonestLookup(chain);
  });

  it("I11: a delegated role longer than the length snapshot lists is cut off at that length", async () => {
    const chain = await honestChain({ computeMetafileHashesAndLength: true });
    const { sim, client } = chain;
    sim.release('B');
    sim.addTarget('a/extra.bin', 'image slipped in after snapshot', undefined, 'B');
    const updater = await refreshed(client, sim);
    await expectRejected(client, () => updater.findTarget('a/fw.bin'), DownloadLengthError, 'download_length');

    sim.release('B');
    await expectHonestLookup(chain);
  });

  it("I11: a delegated role whose version differs from snapshot's is refused", async () => {
    const chain = await honestChain({ consistentSnapshot: false });
    const { sim, client } = chain;
    sim.release('B'); // snapshot lists B version 2 ...
    sim.delegated.get('B')!.version = 3; // ... the repository serves version 3
    const updater = await refreshed(client, sim);
    const err = await expectRejected(client, () => updater.findTarget('a/fw.bin'), VersionMismatchError, 'version_mismatch');
    expect(err.role).toBe('B');

    sim.updateSnapshot();
    await expectHonestLookup(chain);
  });

  it("I11: a delegated role's keys and threshold come from its delegator, not from root", async () => {
    const chain = await honestChain();
    const { sim, client } = chain;
    const honestKeys = sim.signers.get('B')!;
    sim.signers.set('B', sim.signers.get('targets')!); // root trusts this key, for top-level targets only
    sim.release('B');
    const updater = await refreshed(client, sim);
    const err = await expectRejected(client, () => updater.findTarget('a/fw.bin'), UnmetThresholdError, 'unmet_threshold');
    expect(err.role).toBe('B');

    sim.signers.set('B', honestKeys);
    sim.release('B');
    await expectHonestLookup(chain);
  });

  it('I12: a delegation naming a keyid its delegator does not list is refused (key missing)', async () => {
    const chain = await honestChain();
    const { sim, client } = chain;
    const toB = delegationTo(sim, 'A', 'B');
    const honestKeyids = [...toB.keyids];
    toB.keyids = [PrivateKey.fromLabel('delegations-test/stranger').keyid];
    sim.release('A');
    const updater = await refreshed(client, sim);
    const err = await expectRejected(client, () => updater.findTarget('a/fw.bin'), BadKeyIdError, 'bad_keyid');
    expect(err.message).toMatch(/not among the keys/);
    expect(err.role).toBe('A');

    toB.keyids = honestKeyids;
    sim.release('A');
    await expectHonestLookup(chain);
  });

  it('I12: a delegation key renamed to a keyid that is not its digest counts only for signatures filed under that name (the keyid rule)', async () => {
    const chain = await honestChain();
    const { sim, client } = chain;
    const keys = sim.delegated.get('A')!.delegations!.keys;
    const toB = delegationTo(sim, 'A', 'B');
    const realKeyid = toB.keyids[0]!;
    const fakeKeyid = 'ab'.repeat(32);
    keys[fakeKeyid] = keys[realKeyid]!;
    delete keys[realKeyid];
    toB.keyids = [fakeKeyid];
    sim.release('A');
    const updater = await refreshed(client, sim);
    // A verifies (its keyids are names), but B is still signed under the key's computed keyid, a
    // name A's delegation no longer lists: B's signature does not count.
    await expect(updater.findTarget('a/fw.bin')).rejects.toMatchObject({ code: 'unmet_threshold', role: 'B' });

    keys[realKeyid] = keys[fakeKeyid]!;
    delete keys[fakeKeyid];
    toB.keyids = [realKeyid];
    sim.release('A');
    await expectHonestLookup(chain);
  });

  it('I12: a delegated role signed by fewer keys than its threshold is refused (unmet threshold)', async () => {
    const chain = await twoKeyChain();
    const { sim, client } = chain;
    const bothKeys = sim.signers.get('B')!;
    sim.signers.set('B', [bothKeys[0]!]);
    sim.release('B');
    const updater = await refreshed(client, sim);
    const err = await expectRejected(client, () => updater.findTarget('a/fw.bin'), UnmetThresholdError, 'unmet_threshold');
    expect(err.role).toBe('B');

    sim.signers.set('B', bothKeys);
    sim.release('B');
    await expectHonestLookup(chain);
  });

  it('I12: a delegation with threshold 0 is refused (illegal threshold, go-tuf CVE-2026-23992)', async () => {
    const chain = await honestChain();
    const { sim, client } = chain;
    const honestKeys = sim.signers.get('B')!;
    sim.signers.set('B', []); // with threshold 0, no signature at all would do
    delegationTo(sim, 'A', 'B').threshold = 0;
    sim.release('A');
    sim.release('B');
    const updater = await refreshed(client, sim);
    const err = await expectRejected(client, () => updater.findTarget('a/fw.bin'), IllegalThresholdError, 'illegal_threshold');
    expect(err.role).toBe('A');

    sim.signers.set('B', honestKeys);
    delegationTo(sim, 'A', 'B').threshold = 1;
    sim.release('A');
    sim.release('B');
    await expectHonestLookup(chain);
  });

  // A3 (issue 17): the delegation parses and A verifies with it, as python-tuf and tuf-js do; it is B,
  // the role whose threshold can never be met, that is refused when verified.
  it('I12: a delegation threshold larger than its number of keys refuses the delegated role (unmet threshold)', async () => {
    const chain = await honestChain();
    const { sim, client } = chain;
    delegationTo(sim, 'A', 'B').threshold = 2; // one key
    sim.release('A');
    const updater = await refreshed(client, sim);
    // A verified (and is stored); B, already stored, no longer verifies under A's new delegation.
    const err = await expectRejected(client, () => updater.findTarget('a/fw.bin'), UnmetThresholdError, 'unmet_threshold', {
      changed: { A: sim.signedRole('A') },
    });
    expect(err.role).toBe('B');
    expect(err.message).toContain('threshold 2 exceeds the 1 distinct key(s)');

    delegationTo(sim, 'A', 'B').threshold = 1;
    sim.release('A');
    await expectHonestLookup(chain);
  });

  it('I12: a delegated role carrying one signature twice is refused (duplicate signatures)', async () => {
    const chain = await twoKeyChain();
    const { sim, client } = chain;
    const bothKeys = sim.signers.get('B')!;
    sim.signers.set('B', [bothKeys[0]!, bothKeys[0]!]); // two signatures, one key: must not meet threshold 2
    sim.release('B');
    const updater = await refreshed(client, sim);
    const err = await expectRejected(client, () => updater.findTarget('a/fw.bin'), NonUniqueSignaturesError, 'non_unique_signatures');
    expect(err.role).toBe('B');

    sim.signers.set('B', bothKeys);
    sim.release('B');
    await expectHonestLookup(chain);
  });

  it('I12: a delegated role missing from snapshot is refused', async () => {
    const sim = new RepositorySimulator();
    delegate(sim, { delegator: 'targets', name: 'A', paths: ['a/*'] });
    delegate(sim, { delegator: 'A', name: 'B', paths: ['a/*'] });
    sim.addTarget('a/own.bin', 'image of A', undefined, 'A');
    sim.addTarget('a/fw.bin', 'image of B', undefined, 'B');
    sim.release();
    delete sim.snapshot.meta['B.json'];
    const client = newClient(sim);
    const updater = await refreshed(client, sim);
    expect((await updater.findTarget('a/own.bin')).role).toBe('A');
    sim.fetchLog.length = 0;

    const err = await expectRejected(client, () => updater.findTarget('a/fw.bin'), MissingMetaError, 'missing_meta');
    expect(err.role).toBe('B');
    expect(fetchedRoles(sim)).toEqual([]); // nothing is fetched for a role snapshot does not list

    sim.updateSnapshot();
    await expectHonestLookup({ sim, client });
  });

  it('I12: a delegated role the repository does not serve is a typed not-found error', async () => {
    const chain = await honestChain();
    const { sim, client } = chain;
    sim.release('B');
    sim.override = (path) => (/\/metadata\/\d+\.B\.json$/.test(path) ? 'not-found' : undefined);
    const updater = await refreshed(client, sim);
    await expectRejected(client, () => updater.findTarget('a/fw.bin'), RemoteNotFoundError, 'not_found');

    sim.override = undefined;
    await expectHonestLookup(chain);
  });

  it('I12: an empty delegated role file is malformed', async () => {
    const chain = await honestChain();
    const { sim, client } = chain;
    sim.release('B');
    sim.override = (path) => (/\/metadata\/\d+\.B\.json$/.test(path) ? new Uint8Array(0) : undefined);
    const updater = await refreshed(client, sim);
    await expectRejected(client, () => updater.findTarget('a/fw.bin'), MalformedMetadataError, 'malformed_metadata');

    sim.override = undefined;
    await expectHonestLookup(chain);
  });

  it('I12: a delegated role whose hash differs from the one snapshot lists is refused', async () => {
    const chain = await honestChain({ computeMetafileHashesAndLength: true });
    const { sim, client } = chain;
    sim.release('B');
    // Same length, other content, validly signed by B's key: only the snapshot hash can tell.
    const bytes = tamperedB(sim, (b) => {
      const target = b.targets['a/fw.bin']!;
      target.hashes = { ...target.hashes, sha256: sha256('attacker image') };
    });
    sim.override = (path) => (/\/metadata\/\d+\.B\.json$/.test(path) ? bytes : undefined);
    expect(bytes.length).toBe(sim.signedRole('B').length);
    const updater = await refreshed(client, sim);
    const err = await expectRejected(client, () => updater.findTarget('a/fw.bin'), HashMismatchError, 'hash_mismatch');
    expect(err.role).toBe('B');

    sim.override = undefined;
    await expectHonestLookup(chain);
  });

  it('I12: an expired delegated role is refused', async () => {
    const chain = await honestChain();
    const { sim, client } = chain;
    sim.delegated.get('B')!.expires = '2026-01-01T00:00:00Z';
    sim.release('B');
    const updater = await refreshed(client, sim);
    const err = await expectRejected(client, () => updater.findTarget('a/fw.bin'), ExpiredMetadataError, 'expired');
    expect(err.role).toBe('B');
    expect(err.repository).toBe('image');

    sim.delegated.get('B')!.expires = SIM_EXPIRES;
    sim.release('B');
    await expectHonestLookup(chain);
  });
});

// ---------------------------------------------------------------------------------------------
// docs/threat-model.md, advisories: the delegation bugs peers shipped.

describe('CVE regressions', () => {
  it('#6 GHSA-77hh-43cm-v8j6: a role named like a bin that does not exist is not trusted under a succinct delegation', () => {
    const sim = new RepositorySimulator();
    const binKey = addSuccinctDelegation(sim, 'targets', 3, 'prefix');
    // The bin key signs roles the delegation never created; snapshot even lists them.
    for (const rogue of ['prefix-8', 'prefix-08', 'prefix-', 'prefix--1']) {
      sim.signers.set(rogue, [binKey]);
      sim.delegated.set(rogue, emptyTargets());
    }
    sim.updateSnapshot();
    const set = new TrustedMetadataSet(sim.publishedRoots[0]!, SIM_NOW, { repository: 'image' });
    set.updateTimestamp(sim.signedRole('timestamp'));
    set.updateSnapshot(sim.signedRole('snapshot'));
    set.updateTargets(sim.signedRole('targets'));

    expect(set.updateDelegatedTargets(sim.signedRole('prefix-7'), 'prefix-7', 'targets').signed.version).toBe(1);
    for (const rogue of ['prefix-8', 'prefix-08', 'prefix-', 'prefix--1']) {
      const err = thrownBy(() => set.updateDelegatedTargets(sim.signedRole(rogue), rogue, 'targets'));
      expect(err).toBeInstanceOf(DelegationError);
      expect([rogue, err.code]).toEqual([rogue, 'delegation']);
      expect(set.getTargets(rogue)).toBeUndefined();
    }
  });

  it('#7 GHSA-qp9x-wp8f-qgjj: a role delegated "ecu/*" cannot serve "ECU/brake.bin" (matching is case-sensitive)', async () => {
    const sim = new RepositorySimulator();
    delegate(sim, { delegator: 'targets', name: 'lowercase', paths: ['ecu/*'] });
    delegate(sim, { delegator: 'targets', name: 'uppercase', paths: ['ECU/*'] });
    sim.addTarget('ECU/brake.bin', 'malicious image', undefined, 'lowercase');
    sim.addTarget('ECU/brake.bin', 'honest image', undefined, 'uppercase');
    sim.release();
    const updater = await refreshed(newClient(sim), sim);
    const found = await updater.findTarget('ECU/brake.bin');
    expect(found.role).toBe('uppercase');
    expect(found.target.hashes.sha256).toBe(sha256('honest image'));
    expect(fetchedRoles(sim)).toEqual(['uppercase']);
  });

  it('#14 go-tuf delegation lookup order: the artifact comes from the first role in preorder, not the nearest', async () => {
    const sim = new RepositorySimulator();
    delegate(sim, { delegator: 'targets', name: 'A', paths: ['fw/*'] });
    delegate(sim, { delegator: 'targets', name: 'B', paths: ['fw/*'] });
    delegate(sim, { delegator: 'A', name: 'C', paths: ['fw/*'] });
    delegate(sim, { delegator: 'A', name: 'D', paths: ['fw/*'] });
    sim.addTarget('fw/ecu.bin', 'from C', undefined, 'C');
    sim.addTarget('fw/ecu.bin', 'from D', undefined, 'D');
    sim.addTarget('fw/ecu.bin', 'from B', undefined, 'B'); // what a breadth-first search would return
    sim.release();
    const updater = await refreshed(newClient(sim), sim);
    const found = await updater.findTarget('fw/ecu.bin');
    expect(found.role).toBe('C');
    expect(found.target.hashes.sha256).toBe(sha256('from C'));
    expect(fetchedRoles(sim)).toEqual(['A', 'C']);
  });

  it('#15 tuf-conformance test_cached_role_is_verified_against_current_delegator: a stored role is re-verified under the delegator that reaches it', async () => {
    const { sim, keyViaA, keyViaB } = diamondRepository();
    const client = newClient(sim);
    const first = await refreshed(client, sim);
    expect((await first.findTarget('a/fw.bin')).role).toBe('C');
    expect((await first.findTarget('b/own.bin')).role).toBe('B');
    expect(storedRoles(client)).toEqual([...TOP_LEVEL_FILES, 'A', 'B', 'C'].sort());

    // After a restart, C comes from the store, where it was put as verified under A.
    const restarted = await refreshed(client, sim);
    const err = await expectRejected(client, () => restarted.findTarget('b/fw.bin'), UnmetThresholdError, 'unmet_threshold');
    expect(err.role).toBe('C');
    expect(fetchedRoles(sim)).toEqual(['C']); // the stored copy was refused; so was the served one

    sim.signers.set('C', [keyViaA, keyViaB]);
    sim.release('C');
    const honest = await (await refreshed(client, sim)).findTarget('b/fw.bin');
    expect(honest.role).toBe('C');
    expect(honest.target.hashes.sha256).toBe(sha256('C image under b/'));
  });

  it('#17 CVE-2025-2886: a terminating delegation hides every later delegation', async () => {
    const sim = new RepositorySimulator();
    delegate(sim, { delegator: 'targets', name: 'A', terminating: true, paths: ['fw/*'] });
    delegate(sim, { delegator: 'targets', name: 'B', paths: ['fw/*'] });
    sim.addTarget('fw/a.bin', 'image of A', undefined, 'A');
    sim.addTarget('fw/evil.bin', 'image B may not provide', undefined, 'B');
    sim.release();
    const client = newClient(sim);
    const updater = await refreshed(client, sim);
    expect((await updater.findTarget('fw/a.bin')).role).toBe('A');
    sim.fetchLog.length = 0;

    await expectRejected(client, () => updater.findTarget('fw/evil.bin'), TargetNotFoundError, 'target_not_found');
    expect(fetchedRoles(sim)).toEqual([]); // B is never fetched
    expect(storedRoles(client)).not.toContain('B');

    sim.addTarget('fw/evil.bin', 'now listed by A', undefined, 'A');
    sim.release('A');
    const found = await (await refreshed(client, sim)).findTarget('fw/evil.bin');
    expect(found.role).toBe('A');
    expect(found.target.hashes.sha256).toBe(sha256('now listed by A'));
  });

  it('#21 CVE-2026-6967: a delegated role failing its snapshot hash is neither used nor cached', async () => {
    const sim = new RepositorySimulator({ computeMetafileHashesAndLength: true });
    delegate(sim, { delegator: 'targets', name: 'A', paths: ['a/*'] });
    sim.addTarget('a/fw.bin', 'honest image', undefined, 'A');
    sim.release();
    const poisoned = structuredClone(sim.delegated.get('A')!);
    const target = poisoned.targets['a/fw.bin']!;
    target.hashes = { ...target.hashes, sha256: sha256('attacker image') };
    const poisonedBytes = sim.sign(poisoned, sim.signers.get('A')!);
    expect(poisonedBytes.length).toBe(sim.signedRole('A').length); // only the snapshot hash can tell
    sim.override = (path) => (/\/metadata\/\d+\.A\.json$/.test(path) ? poisonedBytes : undefined);
    const client = newClient(sim);
    const updater = await refreshed(client, sim);

    await expectRejected(client, () => updater.findTarget('a/fw.bin'), HashMismatchError, 'hash_mismatch');
    expect(storedRoles(client)).toEqual(TOP_LEVEL_FILES);

    sim.override = undefined;
    const found = await updater.findTarget('a/fw.bin');
    expect(found.target.hashes.sha256).toBe(sha256('honest image'));
    const afterRestart = await (await refreshed(client, sim)).findTarget('a/fw.bin');
    expect(afterRestart.target.hashes.sha256).toBe(sha256('honest image'));
  });
});
