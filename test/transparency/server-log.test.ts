// LogServer and LogPublisher (shared/transparency/server-log.ts) apart from HTTP: an append that fails
// after its publication was stored is reported, not thrown, and the next retry appends it; the
// catch-up appends only what the log lacks; a saved head is served again only while it is still the
// log's; a witness key equal to the log's own key is refused.
import { FixedClock } from '../../shared/core/clock.js';
import { PrivateKey } from '../../shared/core/crypto/keys.js';
import { entryForFile, entryLeafHash, type LogEntryFields } from '../../shared/transparency/entry.js';
import { MemoryLogStore } from '../../shared/transparency/log-store.js';
import { LogPublisher, LogServer } from '../../shared/transparency/server-log.js';
import { treeHeadBytes, verifyTreeHead } from '../../shared/transparency/tree-head.js';

const LOG = 'uptane-ts test log';
const logKey = PrivateKey.fromLabel('server-log-test/log');
const clock = new FixedClock('2026-12-06T20:00:00Z');
const fileEntry = (role: string, version: number): LogEntryFields => entryForFile({ repository: 'image', role, version }, Buffer.from(`${role} v${version}`));

/** A store whose next append fails, as a full disk would make it: the fault is injected, the store is real. */
class FailingOnceStore extends MemoryLogStore {
  failNext = false;
  override async append(entries: readonly Uint8Array[]): Promise<number> {
    if (this.failNext) {
      this.failNext = false;
      throw new Error('no space left on device');
    }
    return super.append(entries);
  }
}

describe('LogPublisher', () => {
  it('reports a failed append without throwing, and appends it at the next retry, once', async () => {
    const store = new FailingOnceStore();
    const log = await LogServer.open({ log: LOG, store, signer: logKey, clock });
    const published: LogEntryFields[] = [];
    const warnings: string[] = [];
    const publisher = new LogPublisher(log, async () => published, (line) => warnings.push(line));
    published.push(fileEntry('root', 1));
    await publisher.record([fileEntry('root', 1)]);
    published.push(fileEntry('targets', 1), fileEntry('snapshot', 1));
    store.failNext = true;
    await publisher.record([fileEntry('targets', 1), fileEntry('snapshot', 1)]);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain('targets v1, snapshot v1');
    expect(await log.contains(entryLeafHash(fileEntry('targets', 1)))).toBe(false);
    await publisher.retryIfBehind();
    expect(await log.size()).toBe(3);
    expect(await log.contains(entryLeafHash(fileEntry('targets', 1)))).toBe(true);
    expect(verifyTreeHead(log.treeHead(), logKey.publicKey, LOG).size).toBe(3);
    // Caught up: nothing more to do, and nothing appended twice.
    await publisher.retryIfBehind();
    expect(await publisher.catchUp()).toBe(0);
    expect(await log.size()).toBe(3);
  });

  it('appends publications recorded at once together, every entry in, each caller resolved once its entries are', async () => {
    const log = await LogServer.open({ log: LOG, store: new MemoryLogStore(), signer: logKey, clock });
    const publisher = new LogPublisher(log, async () => [], () => undefined);
    const files = Array.from({ length: 40 }, (_, i) => fileEntry('targets', i + 1));
    await Promise.all(files.map(async (file) => {
      await publisher.record([file]);
      expect(await log.contains(entryLeafHash(file))).toBe(true);
    }));
    expect(await log.size()).toBe(40);
    expect(verifyTreeHead(log.treeHead(), logKey.publicKey, LOG).size).toBe(40);
  });

  it('catches up with what the log lacks only, in the order given, each once', async () => {
    const log = await LogServer.open({ log: LOG, store: new MemoryLogStore(), signer: logKey, clock });
    await log.append([fileEntry('root', 1)]);
    const publisher = new LogPublisher(log, async () => [fileEntry('root', 1), fileEntry('targets', 1), fileEntry('targets', 1), fileEntry('timestamp', 1)], () => undefined);
    expect(await publisher.catchUp()).toBe(2);
    const entries = await log.entries(0, 3);
    expect(entries.map((e) => Buffer.from(e.leafHash).toString('hex'))).toEqual(
      [fileEntry('root', 1), fileEntry('targets', 1), fileEntry('timestamp', 1)].map((e) => Buffer.from(entryLeafHash(e)).toString('hex')),
    );
  });
});

describe('LogServer.open', () => {
  it('serves the saved head again while it is the log\'s, and signs a new one under another key', async () => {
    const store = new MemoryLogStore();
    const first = await LogServer.open({ log: LOG, store, signer: logKey, clock });
    await first.append([fileEntry('root', 1)]);
    const saved = first.treeHead();
    clock.advance(5000);
    const again = await LogServer.open({ log: LOG, store, signer: logKey, clock });
    expect(again.treeHead().signed).toEqual(saved.signed);
    const otherKey = PrivateKey.fromLabel('server-log-test/other');
    const rekeyed = await LogServer.open({ log: LOG, store, signer: otherKey, clock });
    expect(rekeyed.treeHead().signature.keyid).toBe(otherKey.keyid);
    expect(verifyTreeHead(rekeyed.treeHead(), otherKey.publicKey, LOG).size).toBe(1);
  });

  it("refuses a witness key that is the log's own key", async () => {
    await expect(LogServer.open({ log: LOG, store: new MemoryLogStore(), signer: logKey, clock, witnessKeys: [logKey.publicKey] })).rejects.toThrow(/own key/);
  });
});

describe('the newest cosigned head (witness lag)', () => {
  it('is served for min_cosignatures while newer heads wait for the witnesses; none before the first cosignature; never more than the witnesses', async () => {
    const witnesses = [PrivateKey.fromLabel('server-log-test/w1'), PrivateKey.fromLabel('server-log-test/w2')];
    const store = new MemoryLogStore();
    const log = await LogServer.open({ log: LOG, store, signer: logKey, clock, witnessKeys: witnesses.map((w) => w.publicKey) });
    const cosign = (witness: PrivateKey) => {
      const head = log.treeHead();
      return log.addCosignature(head, { keyid: witness.publicKey.keyid, sig: witness.sign(treeHeadBytes(head)) });
    };
    await log.append([fileEntry('targets', 1)]);
    expect(() => log.treeHead(1)).toThrow(expect.objectContaining({ code: 'log_witness_pending', kind: 'fault' }));
    await cosign(witnesses[0]!);
    const one = log.treeHead();
    expect(log.treeHead(1)).toBe(one);
    expect(() => log.treeHead(2)).toThrow(expect.objectContaining({ code: 'log_witness_pending' }));
    // A new release: the newest head has no cosignature; min_cosignatures still serves the last cosigned one.
    await log.append([fileEntry('targets', 2)]);
    expect(log.treeHead().head.size).toBe(2);
    expect(log.treeHead(1).head.size).toBe(1);
    await cosign(witnesses[0]!);
    await cosign(witnesses[1]!);
    expect(log.treeHead(1).head.size).toBe(2);
    expect(log.treeHead(2).head.size).toBe(2);
    expect(() => log.treeHead(3)).toThrow(expect.objectContaining({ code: 'bad_request' }));
    // After a restart the saved head's cosignatures are served again.
    const reopened = await LogServer.open({ log: LOG, store, signer: logKey, clock, witnessKeys: witnesses.map((w) => w.publicKey) });
    expect(reopened.treeHead(2).head.size).toBe(2);
  });
});
