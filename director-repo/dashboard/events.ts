// Live events for the dashboard (GET /api/v1/events, Server-Sent Events; docs/dashboard.md): each
// manifest judged, attack reported and assignment state changed as intake commits it (shared
// between replicas through PostgreSQL NOTIFY, shareThrough), and campaign state or stage changes,
// found by comparing the campaign list every few seconds (so a change any replica made arrives too). Bounded: at most `maxStreams` open streams per server
// (503 server_busy beyond), and a stream whose client reads too slowly for `maxBufferedBytes` is
// closed rather than buffered (the page reconnects and reloads what it shows).
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ServerBusyError } from '../../shared/core/errors.js';
import type { ManifestVerdict } from '../services/manifest-intake.js';

export type DashboardEvent =
  | { readonly type: 'manifest'; readonly data: { readonly vin: string; readonly accepted: boolean; readonly code?: string } }
  | { readonly type: 'attack'; readonly data: { readonly vin: string; readonly code: string } }
  | { readonly type: 'campaign'; readonly data: { readonly name: string; readonly state: string; readonly stage: number } }
  | { readonly type: 'assignment'; readonly data: { readonly vin: string; readonly state: string } };

export interface DashboardEventOptions {
  /** Open streams per server (default 100). */
  readonly maxStreams?: number;
  /** Bytes a stream may have waiting for its client before it is closed (default 256 KiB). */
  readonly maxBufferedBytes?: number;
  /** A comment line this often keeps proxies from closing an idle stream (default 15 s). */
  readonly heartbeatMs?: number;
  /** How often campaigns are compared while a stream is open (default 2 s). */
  readonly campaignPollMs?: number;
}

type CampaignSummary = { readonly name: string; readonly state: string; readonly stage: number };

/** Where replicas share their events (the store's change feed on PostgreSQL). */
export interface EventRelay {
  send(payload: string): Promise<void>;
  subscribe(listener: (payload: string) => void): void;
}

const RELAY_BATCH_MS = 250;
/** Under PostgreSQL's 8000-byte NOTIFY payload. */
const MAX_RELAY_PAYLOAD = 7_000;
/** Events waiting for one batch; beyond, the oldest are dropped (the pages reload counts from the API anyway). */
const MAX_PENDING_EVENTS = 10_000;
const EVENT_TYPES = new Set(['manifest', 'attack', 'campaign', 'assignment']);

/** A batch another replica sent, read strictly: anything else in it is dropped. */
function parseBatch(payload: string): DashboardEvent[] {
  let value: unknown;
  try {
    value = JSON.parse(payload);
  } catch {
    return [];
  }
  if (!Array.isArray(value)) return [];
  return value.filter(
    (e): e is DashboardEvent => typeof e === 'object' && e !== null && EVENT_TYPES.has((e as { type?: unknown }).type as string) && typeof (e as { data?: unknown }).data === 'object' && (e as { data?: unknown }).data !== null,
  );
}

/** Retry-After for a refused stream: the page tries again later. */
const BUSY_RETRY_SECONDS = 10;

export class DashboardEvents {
  private readonly streams = new Set<ServerResponse>();
  private readonly maxStreams: number;
  private readonly maxBufferedBytes: number;
  private readonly heartbeatMs: number;
  private readonly campaignPollMs: number;
  private heartbeat: NodeJS.Timeout | undefined;
  private relay: EventRelay | undefined;
  private readonly pending: DashboardEvent[] = [];
  private flushTimer: NodeJS.Timeout | undefined;
  private poll: NodeJS.Timeout | undefined;
  private campaigns: Map<string, CampaignSummary> | undefined;

  constructor(
    /** The campaign list (Campaigns.list): compared between polls to find changes. */
    private readonly listCampaigns: () => Promise<readonly CampaignSummary[]>,
    options: DashboardEventOptions = {},
    private readonly log?: (line: string) => void,
  ) {
    this.maxStreams = options.maxStreams ?? 100;
    this.maxBufferedBytes = options.maxBufferedBytes ?? 256 * 1024;
    this.heartbeatMs = options.heartbeatMs ?? 15_000;
    this.campaignPollMs = options.campaignPollMs ?? 2_000;
  }

  get openStreams(): number {
    return this.streams.size;
  }

  /**
   * Replicas: every event goes through `relay` (PostgreSQL NOTIFY, in batches every 250 ms) and is
   * delivered from there, its own included, so every replica's streams see every replica's events.
   */
  shareThrough(relay: EventRelay): void {
    this.relay = relay;
    relay.subscribe((payload) => {
      for (const event of parseBatch(payload)) this.deliver(event);
    });
  }

  /** An event to every open stream (every replica's, when shared); nothing is kept when none is open. */
  publish(event: DashboardEvent): void {
    if (this.relay === undefined) {
      this.deliver(event);
      return;
    }
    this.pending.push(event);
    if (this.pending.length > MAX_PENDING_EVENTS) this.pending.shift(); // a burst: the oldest go first
    this.flushTimer ??= setTimeout(() => void this.flush(), RELAY_BATCH_MS);
    this.flushTimer.unref();
  }

  private async flush(): Promise<void> {
    this.flushTimer = undefined;
    const events = this.pending.splice(0);
    let batch: DashboardEvent[] = [];
    let size = 2;
    const send = async () => {
      if (batch.length === 0) return;
      const payload = JSON.stringify(batch);
      batch = [];
      size = 2;
      try {
        await this.relay!.send(payload);
      } catch (err) {
        this.log?.(`dashboard events not shared with the other replicas: ${(err as Error).message}`);
      }
    };
    for (const event of events) {
      const length = JSON.stringify(event).length + 1;
      if (size + length > MAX_RELAY_PAYLOAD) await send();
      batch.push(event);
      size += length;
    }
    await send();
  }

  private deliver(event: DashboardEvent): void {
    if (this.streams.size === 0) return;
    // JSON, never HTML: a VIN or code with markup in it is a string the page renders as text.
    const frame = `event: ${event.type}\ndata: ${JSON.stringify(event.data)}\n\n`;
    for (const res of this.streams) this.write(res, frame);
  }

  /** Takes the request over as an event stream; ServerBusyError (nothing written) at the cap. */
  open(req: IncomingMessage, res: ServerResponse): void {
    if (this.streams.size >= this.maxStreams) {
      throw new ServerBusyError(`${this.maxStreams} dashboard event streams are open on this server; retry in ${BUSY_RETRY_SECONDS} s`, BUSY_RETRY_SECONDS);
    }
    res.writeHead(200, { 'Content-Type': 'text/event-stream; charset=utf-8', 'Cache-Control': 'no-store', 'X-Accel-Buffering': 'no', Connection: 'keep-alive' });
    // No idle timeout for this one request: the heartbeat is its traffic.
    req.socket.setTimeout(0);
    res.write(': connected\n\n');
    this.streams.add(res);
    res.on('close', () => this.close(res));
    this.start();
  }

  /** Ends every stream and timer (the server closes). */
  closeAll(): void {
    for (const res of this.streams) res.destroy();
    this.streams.clear();
    this.stop();
    clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
  }

  private write(res: ServerResponse, frame: string): void {
    // A client that does not read: closed, not buffered without end.
    if (res.writableLength + frame.length > this.maxBufferedBytes) {
      this.log?.(`dashboard event stream closed: its client fell ${res.writableLength} bytes behind`);
      res.destroy();
      this.close(res);
      return;
    }
    res.write(frame);
  }

  private close(res: ServerResponse): void {
    this.streams.delete(res);
    if (this.streams.size === 0) this.stop();
  }

  private start(): void {
    if (this.heartbeat !== undefined) return;
    this.heartbeat = setInterval(() => {
      for (const res of this.streams) this.write(res, ': heartbeat\n\n');
    }, this.heartbeatMs);
    this.heartbeat.unref();
    this.poll = setInterval(() => void this.compareCampaigns(), this.campaignPollMs);
    this.poll.unref();
    void this.compareCampaigns();
  }

  private stop(): void {
    clearInterval(this.heartbeat);
    clearInterval(this.poll);
    this.heartbeat = undefined;
    this.poll = undefined;
    this.campaigns = undefined;
  }

  private async compareCampaigns(): Promise<void> {
    let list: readonly CampaignSummary[];
    try {
      list = await this.listCampaigns();
    } catch (err) {
      this.log?.(`dashboard events: the campaign list could not be read: ${(err as Error).message}`);
      return;
    }
    const before = this.campaigns;
    this.campaigns = new Map(list.map((c) => [c.name, c]));
    if (before === undefined) return; // the first look only sets what later ones compare with
    for (const c of list) {
      const old = before.get(c.name);
      // Delivered here only: every replica with a stream open compares for itself.
      if (old === undefined || old.state !== c.state || old.stage !== c.stage) this.deliver({ type: 'campaign', data: { name: c.name, state: c.state, stage: c.stage } });
    }
  }
}

/** The events one judged manifest makes: the manifest, each attack it reported, each assignment it moved. */
export function publishVerdict(events: DashboardEvents, verdict: ManifestVerdict, vin: string, assignmentStates: ReadonlyArray<{ readonly state: string }>): void {
  if ('refused' in verdict) {
    events.publish({ type: 'manifest', data: { vin, accepted: false, code: verdict.refused } });
    return;
  }
  events.publish({ type: 'manifest', data: { vin, accepted: true } });
  for (const code of verdict.attackCodes) events.publish({ type: 'attack', data: { vin, code } });
  for (const { state } of assignmentStates) events.publish({ type: 'assignment', data: { vin, state } });
}
