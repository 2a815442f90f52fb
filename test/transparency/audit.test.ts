// The auditor (shared/transparency/audit.ts) and `uptane log verify`, against a log served through the
// real routes in front of a real Image repository (log-front.ts). One test per finding, each failing
// if its check is removed: a clean log stays clean, a dropped entry (TL6), a fork (TL5), a version the
// repository serves but never logged (TL4), a head not signed by the log or not cosigned (TL8).
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FixedClock } from '../../shared/core/clock.js';
import { nodeBackend } from '../../shared/core/crypto/ed25519.js';
import { PrivateKey } from '../../shared/core/crypto/keys.js';
import { HttpFetcher } from '../../shared/client/fetcher.js';
import { auditLog, type AuditOptions } from '../../shared/transparency/audit.js';
import { LogClient } from '../../shared/transparency/client.js';
import { entryForFile, entryLeafHash } from '../../shared/transparency/entry.js';
import { IMAGE_LOG_NAME, type LogServer } from '../../shared/transparency/server-log.js';
import { encodeSignedTreeHead } from '../../shared/transparency/tree-head.js';
import { fetchPublishedImageFiles } from '../../shared/cli/log-cli.js';
import { FIXTURE_NOW, startRepositories, type Repositories } from '../../sim/harness/fleet-fixtures.js';
import { runCli } from '../support/cli-runner.js';
import { LogFront, openLog } from './log-front.js';

const logKey = PrivateKey.fromLabel('audit/log');
const otherKey = PrivateKey.fromLabel('audit/other');
const witnessKey = PrivateKey.fromLabel('audit/witness');

let clock: FixedClock;
let repos: Repositories;
let dir: string;
const fetcher = new HttpFetcher();
const fronts: LogFront[] = [];
let releases = 0;

beforeAll(async () => {
  clock = new FixedClock(FIXTURE_NOW);
  repos = await startRepositories(clock, 'audit');
  dir = mkdtempSync(join(tmpdir(), 'uptane-audit-'));
  writeFileSync(join(dir, 'log.pub'), logKey.publicKey.toPem());
  writeFileSync(join(dir, 'other.pub'), otherKey.publicKey.toPem());
});

afterAll(async () => {
  fetcher.close();
  for (const f of fronts) await f.close();
  await repos.close();
  rmSync(dir, { recursive: true, force: true });
});

async function front(log: LogServer): Promise<LogFront> {
  const f = await LogFront.start(repos.image.url, log);
  fronts.push(f);
  return f;
}

async function publish(): Promise<void> {
  releases += 1;
  await repos.publishImages([{ name: `audit/${releases}.bin`, content: Buffer.from(`audit release ${releases}`), hardwareIds: ['tcu-a'], releaseCounter: releases }]);
}

/** Appends to `log` every file version the Image repository serves that it does not hold yet, as an honest repository logs them. */
async function logEverything(log: LogServer): Promise<void> {
  const held = new Set((await log.entries(0, await log.size())).map((e) => Buffer.from(e.leafHash).toString('hex')));
  const files = await fetchPublishedImageFiles(fetcher, repos.image.url);
  const entries = files.map((f) => entryForFile(f, f.bytes)).filter((e) => !held.has(Buffer.from(entryLeafHash(e)).toString('hex')));
  if (entries.length > 0) await log.append(entries);
}

function options(f: LogFront, extra: Partial<AuditOptions> = {}): AuditOptions {
  return { client: new LogClient(`${f.url}/log`, fetcher), log: IMAGE_LOG_NAME, logKey: logKey.publicKey, backend: nodeBackend, ...extra };
}

describe('the auditor', () => {
  it('finds nothing wrong with an honest log that holds every version the repository serves, run after run', async () => {
    await publish();
    const log = await openLog(logKey, clock);
    await logEverything(log);
    const f = await front(log);
    const first = await auditLog(options(f, { published: () => fetchPublishedImageFiles(fetcher, repos.image.url) }));
    expect(first.findings).toEqual([]);
    expect(first.ok).toBe(true);
    expect(first.entriesChecked).toBe(await log.size());
    // root v1, timestamp, snapshot and targets at least.
    expect(first.versionsChecked).toBeGreaterThanOrEqual(4);
    await publish();
    await logEverything(log);
    const second = await auditLog(options(f, { previous: first.head, published: () => fetchPublishedImageFiles(fetcher, repos.image.url) }));
    expect(second.findings).toEqual([]);
    expect(second.previousSize).toBe(first.head!.size);
    expect(second.head!.size).toBeGreaterThan(first.head!.size);
  });

  it('TL4 a version the repository serves that the log does not hold: missing_version', async () => {
    await publish();
    const log = await openLog(logKey, clock);
    await logEverything(log);
    const f = await front(log);
    await publish(); // new targets, snapshot and timestamp versions, never logged
    const report = await auditLog(options(f, { published: () => fetchPublishedImageFiles(fetcher, repos.image.url) }));
    expect(report.ok).toBe(false);
    const missing = report.findings.filter((x) => x.kind === 'missing_version');
    expect(missing.map((x) => x.message).join('\n')).toMatch(/targets version/);
    expect(missing.every((x) => x.code === 'log_entry_missing')).toBe(true);
  });

  it('TL6 a log that serves its entries with one dropped, under a head that still counts it: dropped_entry', async () => {
    const log = await openLog(logKey, clock);
    await log.append([1, 2, 3, 4, 5].map((n) => entryForFile({ repository: 'image', role: 'snapshot', version: n }, Buffer.from(`s${n}`))));
    const dropped = await openLog(logKey, clock);
    await dropped.append([1, 2, 4, 5, 6].map((n) => entryForFile({ repository: 'image', role: 'snapshot', version: n }, Buffer.from(`s${n}`))));
    const f = await front(dropped);
    // The head of the honest log, the entries of the one that dropped entry 2.
    f.override = (path) => (path.startsWith('/tree-head') ? encodeSignedTreeHead(log.treeHead()) : undefined);
    const report = await auditLog(options(f));
    expect(report.findings.map((x) => x.kind)).toEqual(['dropped_entry']);
    expect(report.findings[0]!.code).toBe('log_inconsistent');
    // The same head, and a log that holds one entry fewer than it counts: the range is refused (416).
    const shorter = await openLog(logKey, clock);
    await shorter.append([1, 2, 4, 5].map((n) => entryForFile({ repository: 'image', role: 'snapshot', version: n }, Buffer.from(`s${n}`))));
    f.log = shorter;
    const short = await auditLog(options(f));
    expect(short.findings.map((x) => [x.kind, x.code])).toEqual([['dropped_entry', 'log_inconsistent']]);
    expect(short.findings[0]!.message).toMatch(/refuses entries below the 5/);
  });

  it('TL6 a log that dropped an entry and signed a new head over the rest: inconsistent with the head verified before', async () => {
    const entries = [1, 2, 3, 4, 5].map((n) => entryForFile({ repository: 'image', role: 'snapshot', version: n }, Buffer.from(`s${n}`)));
    const log = await openLog(logKey, clock);
    await log.append(entries.slice(0, 4));
    const f = await front(log);
    const before = await auditLog(options(f));
    expect(before.ok).toBe(true);
    const rewritten = await openLog(logKey, clock);
    await rewritten.append([entries[0]!, entries[2]!, entries[3]!, entries[4]!, entryForFile({ repository: 'image', role: 'snapshot', version: 6 }, Buffer.from('s6'))]);
    f.log = rewritten;
    const after = await auditLog(options(f, { previous: before.head }));
    expect(after.findings.map((x) => x.kind)).toEqual(['inconsistent']);
    expect(after.findings[0]!.code).toBe('log_inconsistent');
  });

  it('TL8 a head not signed by the log key given, or without the cosignatures required: bad_signature', async () => {
    const log = await openLog(otherKey, clock);
    await log.append([entryForFile({ repository: 'image', role: 'root', version: 1 }, Buffer.from('r1'))]);
    const f = await front(log);
    const report = await auditLog(options(f));
    expect(report.findings.map((x) => [x.kind, x.code])).toEqual([['bad_signature', 'log_tree_head_signature']]);
    const honest = await openLog(logKey, clock, [witnessKey]);
    await honest.append([entryForFile({ repository: 'image', role: 'root', version: 1 }, Buffer.from('r1'))]);
    f.log = honest;
    const uncosigned = await auditLog(options(f, { witnessKeys: [witnessKey.publicKey], threshold: 1 }));
    expect(uncosigned.findings.map((x) => [x.kind, x.code])).toEqual([['bad_signature', 'log_tree_head_signature']]);
    expect((await auditLog(options(f))).ok).toBe(true);
  });
});

describe('uptane log verify', () => {
  it('prints the report, saves the head only after a clean run, and exits 1 on a finding', async () => {
    await publish();
    const log = await openLog(logKey, clock);
    await logEverything(log);
    const f = await front(log);
    const state = join(dir, 'verify-state.json');
    const args = ['log', 'verify', '--log', `${f.url}/log`, '--log-key', join(dir, 'log.pub'), '--image-repo', repos.image.url, '--state', state];
    const clean = await runCli([...args, '--json']);
    expect(clean.stderr).not.toMatch(/Error/);
    expect(clean.status).toBe(0);
    const report = JSON.parse(clean.stdout) as { ok: boolean; stateSaved: boolean; head: { size: number }; versionsChecked: number };
    expect(report).toMatchObject({ ok: true, stateSaved: true, head: { size: await log.size() } });
    const saved = readFileSync(state, 'utf8');
    // A fork shown after the clean run: found, exit 1, and the state keeps the head verified before.
    const fork = await openLog(logKey, clock);
    await fork.append([entryForFile({ repository: 'image', role: 'targets', version: 999 }, Buffer.from('another past'))]);
    await logEverything(fork);
    f.log = fork;
    const forked = await runCli(args);
    expect(forked.status).toBe(1);
    expect(forked.stdout).toMatch(/\[inconsistent\] log_inconsistent/);
    expect(readFileSync(state, 'utf8')).toBe(saved);
  });

  it('says what to give when the log key cannot be read', async () => {
    const result = await runCli(['log', 'verify', '--log', 'http://127.0.0.1:9/log', '--log-key', join(dir, 'missing.pub')]);
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/--log-key .*missing\.pub/);
  });
});
