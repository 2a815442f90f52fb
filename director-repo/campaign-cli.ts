// `uptane director group ...` and `uptane director campaign ...`: vehicle groups and staged rollouts
// over the operator API (campaign-routes.ts). Options are read and checked here, before anything is
// sent, with a message naming the option and the form it takes; decisions stay with the Director's
// campaign engine (campaigns.ts). Every read command has --json; people get tables.
import type { Argv, CommandModule } from 'yargs';
import { BadRequestError, InvalidExpiryError, OperatorRequestError } from '../shared/core/errors.js';
import { confirmDestructive, withYes, type YesArgs } from '../shared/cli/confirm.js';
import type { CliEnvironment } from '../shared/cli/environment.js';
import { parseDuration } from '../shared/workspace/duration.js';
import { parseAttributePairs, readVinsFile, readVinsCsv } from './cli-input.js';
import { exponentialStages, type StageSpec } from './campaigns.js';
import { LIMITS } from './operator-input.js';
import { OperatorClient, isRecord, plural, printJson, printTable, withRemote, type RemoteArgs } from './operator-client.js';
import { CAMPAIGN_VEHICLE_OUTCOMES, type CampaignBody, type CampaignSchedule, type CampaignStatus, type CampaignVehicleOutcome, type GroupBody, type GroupFilterBody as GroupFilter } from './api/operator-api.js';

// ---------------------------------------------------------------------------------------------
// Reading options.

/** `0.9` or `90%` as a share in [0, 1]. */
export function parseShare(text: string, option: string): number {
  const match = /^(\d+(?:\.\d+)?)(%?)$/.exec(text.trim());
  const value = match === null ? NaN : Number(match[1]) / (match[2] === '%' ? 100 : 1);
  if (!(value >= 0 && value <= 1)) throw new Error(`${option} ${text}: give a share from 0 to 1, such as 0.9, or a percentage such as 90%`);
  return round(value);
}

/** A soak or start time: `1h`, `7d`, `1d12h`, `30m`; `0` for none. */
export function parseMs(text: string, option: string): number {
  if (/^0+$/.test(text.trim())) return 0;
  try {
    return parseDuration(text);
  } catch (err) {
    if (!(err instanceof InvalidExpiryError)) throw err;
    throw new Error(`${option} ${text}: give a duration such as 30m, 1h, 7d or 1d12h (units y, w, d, h, m for minutes, s), or 0`, { cause: err });
  }
}

/** A whole number of at least `min`. */
function parseWhole(value: number | undefined, option: string, min: number): number | undefined {
  if (value === undefined) return undefined;
  if (!Number.isSafeInteger(value) || value < min) throw new Error(`${option} ${String(value)}: give a whole number of at least ${min}`);
  return value;
}

/** Floating noise off shares typed as percentages (0.1% is 0.001, not 0.0010000000000000002). */
const round = (x: number) => Math.round(x * 1e9) / 1e9;

/**
 * One stage: `10%` or `count:20` (cumulative: the share or number of the group that has the update
 * once the stage runs), optionally followed by `,soak=1h`, `,after=1d` (no earlier than this long
 * after the start) and `,success=95%` (installed share needed before the next stage).
 */
export function parseStage(text: string): StageSpec {
  const [head = '', ...qualifiers] = text.split(',').map((p) => p.trim());
  const bad = (what: string): never => {
    throw new Error(`--stage ${text}: ${what}; write 10% or count:20, optionally followed by ,soak=1h ,after=1d ,success=95%`);
  };
  const percent = /^(\d+(?:\.\d+)?)%$/.exec(head);
  const count = /^count:(\d+)$/.exec(head);
  let stage: { -readonly [K in keyof StageSpec]: StageSpec[K] };
  if (percent !== null) {
    const share = round(Number(percent[1]) / 100);
    if (!(share > 0 && share <= 1)) bad('a share is more than 0% and at most 100%');
    stage = { share };
  } else if (count !== null) {
    const n = Number(count[1]);
    if (!Number.isSafeInteger(n) || n < 1) bad('a count is a whole number of vehicles, at least 1');
    stage = { count: n };
  } else {
    return bad(`${JSON.stringify(head)} is neither a percentage nor count:N`);
  }
  for (const qualifier of qualifiers) {
    const at = qualifier.indexOf('=');
    const key = at === -1 ? qualifier : qualifier.slice(0, at);
    const value = at === -1 ? '' : qualifier.slice(at + 1);
    if (value === '') bad(`${JSON.stringify(qualifier)} has no value`);
    if (key === 'soak') stage.minSoakMs = parseMs(value, `--stage ${text}: soak`);
    else if (key === 'after') stage.startAfterMs = parseMs(value, `--stage ${text}: after`);
    else if (key === 'success') stage.successThreshold = parseShare(value, `--stage ${text}: success`);
    else bad(`unknown ${JSON.stringify(key)}`);
  }
  return stage;
}

/** `first=0.01,factor=4` (first may be a percentage: `first=1%`). */
export function parseRamp(text: string): { first: number; factor: number } {
  const fields = new Map<string, string>();
  for (const part of text.split(',')) {
    const at = part.indexOf('=');
    if (at <= 0) throw new Error(`--ramp ${text}: write first=0.01,factor=4 (the first stage's share, then multiplied by factor until everyone)`);
    fields.set(part.slice(0, at).trim(), part.slice(at + 1).trim());
  }
  const unknown = [...fields.keys()].filter((k) => k !== 'first' && k !== 'factor');
  if (unknown.length > 0 || !fields.has('first') || !fields.has('factor')) {
    throw new Error(`--ramp ${text}: give exactly first=SHARE and factor=N, e.g. first=0.01,factor=4`);
  }
  const first = parseShare(fields.get('first')!, '--ramp first');
  const factor = Number(fields.get('factor'));
  if (!(first > 0)) throw new Error(`--ramp ${text}: first must be more than 0`);
  if (!(factor > 1 && Number.isFinite(factor))) throw new Error(`--ramp ${text}: factor must be a number above 1, e.g. 4`);
  // The Director's own rule, checked here too so the operator hears it before anything is sent.
  try {
    exponentialStages(first, factor);
  } catch (err) {
    if (!(err instanceof BadRequestError)) throw err;
    throw new Error(`--ramp ${text}: ${err.message}`, { cause: err });
  }
  return { first, factor };
}

/** `HW=IMAGE`: the image (its target name in the Image repository) for ECUs with that hardware id. */
export function parseImage(text: string): { hardwareId: string; image: string } {
  const at = text.indexOf('=');
  if (at <= 0 || at === text.length - 1) throw new Error(`--image ${text}: write HARDWARE_ID=IMAGE, e.g. ecm-x1=engine/ecm-2.1.bin`);
  return { hardwareId: text.slice(0, at), image: text.slice(at + 1) };
}

/** `1-5`: UTC hours, start inclusive, end exclusive; `22-4` wraps midnight. */
export function parseWindow(text: string): { startHour: number; endHour: number } {
  const match = /^(\d{1,2})-(\d{1,2})$/.exec(text.trim());
  const [startHour, endHour] = match === null ? [NaN, NaN] : [Number(match[1]), Number(match[2])];
  if (!(startHour >= 0 && startHour <= 24 && endHour >= 0 && endHour <= 24) || startHour === endHour) {
    throw new Error(`--maintenance-window ${text}: write START-END in whole UTC hours, e.g. 1-5 (01:00 to 05:00) or 22-4 (over midnight)`);
  }
  return { startHour, endHour };
}

// ---------------------------------------------------------------------------------------------
// Describing.

/** 90000000 as `1d1h`; 0 as `0`. */
export function formatMs(ms: number): string {
  if (ms === 0) return '0';
  const units: Array<[string, number]> = [['d', 86_400_000], ['h', 3_600_000], ['m', 60_000], ['s', 1000]];
  let rest = ms;
  let text = '';
  for (const [unit, size] of units) {
    const n = Math.floor(rest / size);
    if (n > 0) text += `${n}${unit}`;
    rest -= n * size;
  }
  return text === '' ? `${ms}ms` : text;
}

const formatPercent = (share: number) => `${Number((share * 100).toPrecision(6))}%`;

/** `10%, after 1d, soak 1h, success 95%`. */
export function describeStage(stage: StageSpec): string {
  const parts = [stage.share !== undefined ? formatPercent(stage.share) : plural(stage.count ?? 0, 'vehicle')];
  if (stage.startAfterMs !== undefined && stage.startAfterMs > 0) parts.push(`after ${formatMs(stage.startAfterMs)}`);
  if (stage.minSoakMs !== undefined && stage.minSoakMs > 0) parts.push(`soak ${formatMs(stage.minSoakMs)}`);
  if (stage.successThreshold !== undefined) parts.push(`success ${formatPercent(stage.successThreshold)}`);
  return parts.join(', ');
}

function describeFilter(filter: GroupFilter | null): string {
  if (filter === null) return 'VIN list';
  const parts = Object.entries(filter.attributes ?? {}).map(([k, v]) => `${k}=${v}`);
  if (filter.hardwareId !== undefined) parts.push(`has ECU ${filter.hardwareId}`);
  if (filter.installedImage !== undefined) parts.push(`runs ${filter.installedImage}`);
  return parts.length === 0 ? 'every registered vehicle' : parts.join(', ');
}

const describeImages = (images: ReadonlyArray<{ hardwareId: string; image: string }>) => images.map((i) => `${i.hardwareId}=${i.image}`).join(', ');

/** One line on a recorded decision: what it did and why, in words (the JSON has every field). */
export function describeEvent(kind: string, details: unknown): string {
  const d = isRecord(details) ? details : {};
  const num = (name: string) => (typeof d[name] === 'number' ? (d[name] as number) : undefined);
  switch (kind) {
    case 'created': {
      const below = num('belowMinimumProfile');
      const skips = below === undefined ? '' : `; ${plural(below, 'vehicle')} with an ECU below an image's minimum security profile, to be skipped (profile_assignment_refused)`;
      return `group ${String(d.group)}; ${Array.isArray(d.images) ? describeImages(d.images as Array<{ hardwareId: string; image: string }>) : '?'}; ${plural(num('stages') ?? 0, 'stage')}${skips}`;
    }
    case 'started':
      return `${plural(num('vehicles') ?? 0, 'vehicle')} in the group${typeof d.waiting === 'string' ? `; ${d.waiting}` : ''}`;
    case 'advanced':
      if (d.by === 'operator') return `to stage ${num('stage')}, by operator command`;
      if (d.by === 'schedule') return `to stage ${num('stage')}: its start time and maintenance window came`;
      return `to stage ${num('stage')}: ${formatPercent(num('installedShare') ?? 0)} of the stage installed`;
    case 'paused':
      return `stage ${num('stage')}: ${typeof d.reason === 'string' ? d.reason : 'no reason recorded'}`;
    case 'resumed':
      return `stage ${num('stage')}`;
    case 'aborted':
      return `${plural(num('cancelled') ?? 0, 'open assignment')} cancelled`;
    case 'completed':
      return `all ${plural(num('stages') ?? 0, 'stage')} done`;
    case 'error':
      return `${String(d.code)}: ${String(d.message)} (paused)`;
    case 'retried':
      return `${plural(num('retried') ?? 0, 'failed vehicle')} given the update again${(num('notRetried') ?? 0) > 0 ? `, ${num('notRetried')} could not be` : ''}${d.reopened === true ? ' (the completed campaign runs again)' : ''}`;
    default:
      return JSON.stringify(details);
  }
}

/** Per stage, planned and reached alike: counts, and `*` on the current one. */
function printStages(io: CliEnvironment, status: CampaignStatus): void {
  const byStage = new Map(status.perStage.map((s) => [s.stage, s]));
  const extra = status.perStage.some((s) => s.cancelled + s.skipped > 0);
  const active = status.state === 'running' || status.state === 'paused';
  const headers = ['STAGE', 'PLAN', 'VEHICLES', 'PENDING', 'DOWNLOADING', 'DEFERRED', 'INSTALLED', 'FAILED', 'ROLLED BACK', 'ATTACKS', ...(extra ? ['CANCELLED', 'SKIPPED'] : [])];
  const rows = status.stages.map((spec, i) => {
    const n = i + 1;
    const label = `${n}${active && n === status.stage ? '*' : ''}`;
    const s = byStage.get(n);
    if (s === undefined) return [label, describeStage(spec), '-', '', '', '', '', '', '', '', ...(extra ? ['', ''] : [])];
    const counts = [s.vehicles, s.pending, s.downloading, s.deferredWhileDriving, s.installed, s.failed, s.rolledBack, s.attackReported, ...(extra ? [s.cancelled, s.skipped] : [])];
    return [label, describeStage(spec), ...counts.map(String)];
  });
  printTable(io, headers, rows);
}

function printStatus(io: CliEnvironment, status: CampaignStatus): void {
  const staged = status.perStage.reduce((n, s) => n + s.vehicles, 0);
  io.print(`campaign  ${status.name} (#${status.id})`);
  io.print(`state     ${status.state}${status.state === 'draft' ? ' (not started)' : `, stage ${status.stage} of ${status.stages.length}`}`);
  io.print(`group     ${status.group}${status.state === 'draft' ? '' : `: ${plural(status.vehicles, 'vehicle')} in the campaign, ${staged} given the update so far`}`);
  // Older Directors answer without `waiting`: then only a stage that has not started is explained.
  const waiting = status.waiting ?? ((status.state === 'running' || status.state === 'paused') && status.stageStartedAt === null ? [{ code: 'schedule', message: `stage ${status.stage} waits for its start time (after=) or the maintenance window` }] : []);
  waiting.forEach((w, i) => io.print(`${i === 0 ? 'waiting  ' : '         '} ${w.message}`));
  io.print(`images    ${describeImages(status.images)}`);
  io.print('');
  io.print('stages');
  printStages(io, status);
  if (status.state === 'running' || status.state === 'paused') io.print('  * the current stage');
  io.print('  DEFERRED: pending or downloading vehicles that last reported driving (they install once parked); ROLLED BACK is part of FAILED');
  printStageVins(io, status);
  io.print('');
  io.print('failure reasons');
  printTable(
    io,
    ['VEHICLES', 'REASON'],
    Object.entries(status.failureReasons)
      .sort((a, b) => b[1] - a[1])
      .map(([reason, n]) => [String(n), reason]),
  );
  io.print('');
  io.print('history');
  printTable(io, ['AT', 'BY', 'DECISION', 'WHY / DETAILS'], status.history.map((e) => [e.at, e.actor, e.kind, describeEvent(e.kind, e.details)]));
  const next = nextStep(status);
  if (next !== undefined) {
    io.print('');
    io.print(`next: ${next}`);
  }
}

/**
 * Per stage, the first VINs of each outcome the status carries (skipped and failed ones with their
 * reason), and how to page through the rest.
 */
function printStageVins(io: CliEnvironment, status: CampaignStatus): void {
  const rows: string[][] = [];
  let more = false;
  for (const s of status.perStage) {
    for (const outcome of CAMPAIGN_VEHICLE_OUTCOMES) {
      const entries = s.vins?.[outcome] ?? [];
      const count = outcome === 'unstaged' ? 0 : s[outcome];
      if (entries.length < count) more = true;
      for (const e of entries) rows.push([String(s.stage), outcome, e.vin, e.reason ?? '']);
    }
  }
  if (rows.length === 0) return;
  io.print('');
  io.print('vehicles (the first of each outcome per stage)');
  printTable(io, ['STAGE', 'OUTCOME', 'VIN', 'REASON'], rows);
  const skips = status.perStage.flatMap((s) => Object.entries(s.skipReasons ?? {}).map(([code, n]) => `stage ${s.stage}: ${n} ${code}`));
  if (skips.length > 0) io.print(`  skipped by reason: ${skips.join('; ')}`);
  if (more) io.print(`  more: \`uptane director campaign status ${status.name} --stage N --outcome OUTCOME\` lists them a page at a time`);
}

function nextStep(status: CampaignStatus): string | undefined {
  const name = status.name;
  switch (status.state) {
    case 'draft':
      return `\`uptane director campaign start ${name}\``;
    case 'paused':
      return `look at the failure reasons and history, then \`uptane director campaign resume ${name}\`, \`advance ${name}\` or \`abort ${name}\`${status.perStage.some((s) => s.failed > 0) ? `; \`retry ${name}\` gives the failed vehicles the update again` : ''}`;
    case 'running':
      return status.stage < status.stages.length ? `the engine moves on by itself when the stage's rules are met; \`uptane director campaign advance ${name}\` moves on now` : undefined;
    default:
      return undefined;
  }
}

/** Adds what to do next to a refusal: list the campaigns or groups, or look at the conflicting one. */
async function withHints<T>(run: () => Promise<T>, name: string, what: 'campaign' | 'group' = 'campaign'): Promise<T> {
  try {
    return await run();
  } catch (err) {
    if (!(err instanceof OperatorRequestError)) throw err;
    let hint = '';
    if (err.status === 404 && /no group /.test(err.message)) hint = '`uptane director group list` shows the groups; `uptane director group create` makes one';
    else if (err.status === 404 && /no campaign /.test(err.message)) hint = '`uptane director campaign list` shows the campaigns';
    else if (err.status === 409 && / exists/.test(err.message)) hint = `choose another name (\`uptane director ${what === 'campaign' ? 'campaign status' : 'group show'} ${name}\` shows the existing one)`;
    else if (err.status === 409 && /active campaign /.test(err.message)) hint = 'a vehicle belongs to at most one active campaign per hardware id: `uptane director campaign list` shows them';
    if (hint === '') throw err;
    throw new OperatorRequestError(`${err.message}\n${hint}`, err.status, err.remoteCode);
  }
}

// ---------------------------------------------------------------------------------------------
// group create / list / show

interface GroupCreateArgs extends RemoteArgs {
  readonly name: string;
  readonly vin?: string[] | undefined;
  readonly vinsFile?: string | undefined;
  readonly csv?: string | undefined;
  readonly filterAttribute?: string[] | undefined;
  readonly filterHardwareId?: string | undefined;
  readonly filterInstalledImage?: string | undefined;
  readonly json: boolean;
}

const groupCreateCommand = (io: CliEnvironment): CommandModule<object, GroupCreateArgs> => ({
  command: 'create <name>',
  describe: 'define a group of vehicles: a list of VINs (static), or a filter on the inventory (dynamic)',
  builder: (yargs) =>
    withRemote(yargs, io)
      .positional('name', { type: 'string', demandOption: true, describe: 'group name: 1-64 letters, digits, _ . or -' })
      .option('vin', { type: 'string', array: true, requiresArg: true, describe: 'a member VIN; repeat for several' })
      .option('vins-file', { type: 'string', requiresArg: true, describe: 'a file listing member VINs, one per line (# comments allowed)' })
      .option('csv', { type: 'string', requiresArg: true, describe: 'a CSV file with a vin column (other columns ignored), e.g. the registration CSV' })
      .option('filter-attribute', { type: 'string', array: true, requiresArg: true, describe: 'dynamic: vehicles whose attribute NAME equals VALUE (NAME=VALUE; repeat, all must match)' })
      .option('filter-hardware-id', { type: 'string', requiresArg: true, describe: 'dynamic: vehicles with an ECU of this hardware id' })
      .option('filter-installed-image', { type: 'string', requiresArg: true, describe: 'dynamic: vehicles with an ECU that reports this image installed' })
      .option('json', { type: 'boolean', default: false, describe: 'print {name, kind, members} as JSON' })
      .check((argv) => {
        const listed = (argv.vin as string[] | undefined) !== undefined || argv['vins-file'] !== undefined || argv.csv !== undefined;
        const filtered = (argv['filter-attribute'] as string[] | undefined) !== undefined || argv['filter-hardware-id'] !== undefined || argv['filter-installed-image'] !== undefined;
        if (listed && filtered) throw new Error('a group is either a list of VINs (--vin, --vins-file, --csv) or a filter (--filter-...), not both');
        if (!listed && !filtered) throw new Error('name the members: --vin VIN, --vins-file FILE or --csv FILE (static), or --filter-attribute NAME=VALUE, --filter-hardware-id HW, --filter-installed-image IMAGE (dynamic)');
        return true;
      })
      .example('$0 director group create test-fleet --vins-file reserved-test-vehicles.txt', 'the reserved test vehicles (static)')
      .example('$0 director group create eu-sedans --filter-attribute model=sedan-2026 --filter-attribute region=eu', 'every matching vehicle, now and later (dynamic)')
      .example('$0 director group create old-ecm --filter-hardware-id ecm-x1 --filter-installed-image engine/ecm-2.0.bin', 'vehicles still running an old engine image')
      .epilogue(
        'A static group holds the VINs given; those not registered yet count once they are. A dynamic group is evaluated against the inventory ' +
          'when a campaign starts (and again as vehicles register, for campaigns created with --include-new-vehicles).',
      ) as unknown as Argv<GroupCreateArgs>,
  handler: async (argv) => {
    const client = OperatorClient.from(io, argv);
    const listed = [...(argv.vin ?? []), ...(argv.vinsFile === undefined ? [] : readVinsFile(argv.vinsFile)), ...(argv.csv === undefined ? [] : readVinsCsv(argv.csv))];
    const vins = [...new Set(listed)];
    const filter: GroupFilter = {
      ...(argv.filterAttribute === undefined ? {} : { attributes: parseAttributePairs(argv.filterAttribute, '--filter-attribute') }),
      ...(argv.filterHardwareId === undefined ? {} : { hardwareId: argv.filterHardwareId }),
      ...(argv.filterInstalledImage === undefined ? {} : { installedImage: argv.filterInstalledImage }),
    };
    const kind = vins.length > 0 ? 'static' : 'dynamic';
    const body: GroupBody = kind === 'static' ? { name: argv.name, vins } : { name: argv.name, filter };
    const { members } = await withHints(() => client.send('POST /groups', `create group ${argv.name}`, { body }), argv.name, 'group');
    if (argv.json) {
      printJson(io, { name: argv.name, kind, members, ...(kind === 'static' ? { listed: vins.length } : { filter }) });
      return;
    }
    if (kind === 'static') {
      io.print(`created static group ${argv.name}: ${plural(vins.length, 'VIN')} listed, ${members} registered now`);
      if (members < vins.length) io.print(`the other ${vins.length - members} join the group once they are registered`);
      if (listed.length > vins.length) io.print(`(${plural(listed.length - vins.length, 'repeated VIN')} ignored)`);
    } else {
      io.print(`created dynamic group ${argv.name} (${describeFilter(filter)}): ${plural(members, 'vehicle')} match now`);
    }
    io.print(`next: \`uptane director campaign create NAME --group ${argv.name} --image HW=IMAGE --stage 10% --stage 100%\``);
  },
});

interface JsonArgs extends RemoteArgs {
  readonly json: boolean;
}

const groupListCommand = (io: CliEnvironment): CommandModule<object, JsonArgs> => ({
  command: 'list',
  describe: 'the vehicle groups, with how many vehicles each holds now',
  builder: (yargs) =>
    withRemote(yargs, io)
      .option('json', { type: 'boolean', default: false, describe: 'print {groups} as JSON' })
      .example('$0 director group list', 'every group') as Argv<JsonArgs>,
  handler: async (argv) => {
    const client = OperatorClient.from(io, argv);
    const { groups } = await client.send('GET /groups', 'list groups');
    if (argv.json) {
      printJson(io, { groups });
      return;
    }
    printTable(
      io,
      ['NAME', 'KIND', 'VEHICLES', 'DEFINITION', 'CREATED'],
      // A group the Director cannot evaluate (an unreadable stored filter) is listed with its problem.
      groups.map((g) => [g.name, g.kind, g.members === null ? '?' : String(g.members), g.problem ?? describeFilter(g.filter), g.createdAt]),
      'no groups yet: `uptane director group create --help` shows how',
    );
  },
});

interface NameArgs extends JsonArgs {
  readonly name: string;
}

const groupShowCommand = (io: CliEnvironment): CommandModule<object, NameArgs> => ({
  command: 'show <name>',
  describe: "a group's definition and its vehicles now",
  builder: (yargs) =>
    withRemote(yargs, io)
      .positional('name', { type: 'string', demandOption: true, describe: 'the group' })
      .option('json', { type: 'boolean', default: false, describe: 'print {name, kind, filter, createdAt, members} as JSON' })
      .example('$0 director group show eu-sedans', 'who is in it today') as Argv<NameArgs>,
  handler: async (argv) => {
    const client = OperatorClient.from(io, argv);
    const { members } = await withHints(() => client.send('GET /groups/:name', `show group ${argv.name}`, { params: { name: argv.name } }), argv.name, 'group');
    const { groups } = await client.send('GET /groups', 'list groups');
    const record = groups.find((g) => g.name === argv.name);
    const shown = { name: argv.name, kind: record?.kind ?? null, filter: record?.filter ?? null, createdAt: record?.createdAt ?? null, members };
    if (argv.json) {
      printJson(io, shown);
      return;
    }
    io.print(`group     ${argv.name}`);
    io.print(`kind      ${shown.kind ?? '?'}${record === undefined ? '' : `: ${describeFilter(record.filter)}`}`);
    if (shown.createdAt !== null) io.print(`created   ${shown.createdAt}`);
    io.print(`vehicles  ${members.length}${record?.kind === 'static' ? ' registered (listed VINs count once registered)' : ' matching now'}`);
    for (const vin of members) io.print(`  ${vin}`);
  },
});

// ---------------------------------------------------------------------------------------------
// campaign create

interface CampaignCreateArgs extends RemoteArgs {
  readonly name: string;
  readonly group: string;
  readonly image: string[];
  readonly stage?: string[] | undefined;
  readonly preset?: string | undefined;
  readonly ramp?: string | undefined;
  readonly soak?: string | undefined;
  readonly successThreshold?: string | undefined;
  readonly maxFailureRate?: string | undefined;
  readonly minSample?: number | undefined;
  readonly maxFailures?: number | undefined;
  readonly haltOnAttack: boolean;
  readonly includeNewVehicles: boolean;
  readonly maintenanceWindow?: string | undefined;
  readonly encrypt?: boolean | undefined;
  readonly json: boolean;
}

/** The POST /api/v1/campaigns body the options describe; throws on the first option that is wrong. */
export function campaignBody(argv: Omit<CampaignCreateArgs, keyof RemoteArgs | 'json'>): CampaignBody {
  const images = argv.image.map(parseImage);
  const soakMs = argv.soak === undefined ? undefined : parseMs(argv.soak, '--soak');
  let schedule: CampaignSchedule;
  if (argv.preset !== undefined) {
    if (argv.soak !== undefined || argv.successThreshold !== undefined) {
      throw new Error('the white-paper preset has its own schedule (a day per stage, soak 1d): leave out --soak and --success-threshold, or give the stages with --stage');
    }
    schedule = { preset: argv.preset as 'white-paper' }; // the one choice yargs allows
  } else if (argv.ramp !== undefined) {
    if (argv.successThreshold !== undefined) throw new Error('--success-threshold applies to --stage stages; a ramp uses the default (90% installed)');
    schedule = { ramp: { ...parseRamp(argv.ramp), ...(soakMs === undefined ? {} : { minSoakMs: soakMs }) } };
  } else {
    if ((argv.stage ?? []).length > LIMITS.stages) throw new Error(`--stage: ${argv.stage!.length} given, at most ${LIMITS.stages} stages`);
    const successThreshold = argv.successThreshold === undefined ? undefined : parseShare(argv.successThreshold, '--success-threshold');
    const stages = (argv.stage ?? []).map((text) => {
      const stage = parseStage(text);
      return {
        ...stage,
        ...(stage.minSoakMs === undefined && soakMs !== undefined ? { minSoakMs: soakMs } : {}),
        ...(stage.successThreshold === undefined && successThreshold !== undefined ? { successThreshold } : {}),
      };
    });
    stages.forEach((stage, i) => {
      const previous = stages[i - 1];
      if (previous === undefined) return;
      const shrinks = (previous.share !== undefined && stage.share !== undefined && stage.share < previous.share) || (previous.count !== undefined && stage.count !== undefined && stage.count < previous.count);
      if (shrinks) throw new Error(`--stage ${argv.stage![i]}: stages are cumulative (the share or count that has the update once the stage runs), so they never shrink`);
    });
    schedule = { stages };
  }
  const halt = {
    ...(argv.maxFailureRate === undefined ? {} : { maxFailureRate: parseShare(argv.maxFailureRate, '--max-failure-rate') }),
    ...(argv.minSample === undefined ? {} : { minSample: parseWhole(argv.minSample, '--min-sample', 1) }),
    ...(argv.maxFailures === undefined ? {} : { maxFailures: parseWhole(argv.maxFailures, '--max-failures', 1) }),
    ...(argv.haltOnAttack ? {} : { onAttack: false }),
  };
  return {
    name: argv.name,
    group: argv.group,
    images,
    ...schedule,
    ...(Object.keys(halt).length === 0 ? {} : { halt }),
    includeNewVehicles: argv.includeNewVehicles,
    ...(argv.maintenanceWindow === undefined ? {} : { maintenanceWindow: parseWindow(argv.maintenanceWindow) }),
    ...(argv.encrypt === true ? { encrypt: true } : {}),
  };
}

const campaignCreateCommand = (io: CliEnvironment): CommandModule<object, CampaignCreateArgs> => ({
  command: 'create <name>',
  describe: 'define a staged rollout of images to a group (a draft: nothing is assigned until `campaign start`)',
  builder: (yargs) =>
    withRemote(yargs, io)
      .positional('name', { type: 'string', demandOption: true, describe: 'campaign name: 1-64 letters, digits, _ . or -' })
      .option('group', { type: 'string', demandOption: true, requiresArg: true, describe: 'the vehicle group (`uptane director group list`)' })
      .option('image', { type: 'string', array: true, demandOption: true, requiresArg: true, describe: 'HARDWARE_ID=IMAGE: the image for ECUs of that hardware id; repeat for several ECUs' })
      .option('stage', { type: 'string', array: true, requiresArg: true, describe: 'a stage, cumulative: 10% or count:20 [,soak=1h][,after=1d][,success=95%]; repeat in order' })
      .option('preset', { type: 'string', choices: ['white-paper'], requiresArg: true, describe: 'a ready schedule: white-paper is day 1 0.1%, day 2 1%, day 3 10%, days 4-7 +20% each, day 8 the rest' })
      .option('ramp', { type: 'string', requiresArg: true, describe: 'an exponential ramp: first=0.01,factor=4 (1%, 4%, 16%, 64%, 100%)' })
      .option('soak', { type: 'string', requiresArg: true, describe: 'minimum time each stage runs before the next (30m, 1h, 7d); for --stage and --ramp' })
      .option('success-threshold', { type: 'string', requiresArg: true, describe: "share of a stage's vehicles that must have installed before the next stage (0.9 or 90%; default 90%)" })
      .option('max-failure-rate', { type: 'string', requiresArg: true, describe: 'halt: pause when failed / finished installs passes this (0.2 or 20%; default 20%)' })
      .option('min-sample', { type: 'number', requiresArg: true, describe: 'halt: ... once at least this many installs finished (default 5)' })
      .option('max-failures', { type: 'number', requiresArg: true, describe: 'halt: pause at this many failed installs, whatever the rate' })
      .option('halt-on-attack', { type: 'boolean', default: true, describe: 'halt: pause when a vehicle in the campaign reports an attack or verification failure (--no-halt-on-attack to turn off)' })
      .option('include-new-vehicles', { type: 'boolean', default: false, describe: 'vehicles that join the group after the start join the campaign' })
      .option('maintenance-window', { type: 'string', requiresArg: true, describe: 'stages start only between these UTC hours, START-END, e.g. 1-5 or 22-4' })
      .option('encrypt', {
        type: 'boolean',
        default: false,
        describe: 'encrypt the images for each ECU (once per image at the start); a vehicle whose target ECU has no encryption key is skipped',
      })
      .option('json', { type: 'boolean', default: false, describe: 'print the campaign status as JSON' })
      .check((argv) => {
        const schedules = [(argv.stage as string[] | undefined) !== undefined, argv.preset !== undefined, argv.ramp !== undefined].filter(Boolean).length;
        if (schedules !== 1) throw new Error('give the schedule one way: --stage (repeat, e.g. --stage 1% --stage 10% --stage 100%), --preset white-paper, or --ramp first=0.01,factor=4');
        return true;
      })
      .example('$0 director campaign create ecm-2.1 --group eu-sedans --image ecm-x1=engine/ecm-2.1.bin --stage 1% --stage 10% --stage 50% --stage 100% --soak 1h', 'four stages, each at least an hour')
      .example('$0 director campaign create ecm-2.1-test --group test-fleet --image ecm-x1=engine/ecm-2.1.bin --stage count:20 --stage 100%', 'twenty test vehicles first')
      .example('$0 director campaign create ecm-2.1-world --group eu-sedans --image ecm-x1=engine/ecm-2.1.bin --preset white-paper --max-failures 50', "the white paper's eight-day schedule")
      .epilogue(
        'Stages are cumulative: --stage 10% --stage 50% gives the update to 10% of the group, then to 50% in all. Vehicles are picked in a ' +
          'deterministic order spread across the group. The engine moves to the next stage once its soak time has passed and enough of its ' +
          'vehicles installed; it pauses by itself when the halt rules trip. The last stage should be 100% (or a count covering the group), ' +
          'or the campaign never completes.',
      ) as unknown as Argv<CampaignCreateArgs>,
  handler: async (argv) => {
    const body = campaignBody(argv);
    const client = OperatorClient.from(io, argv);
    const status = await withHints(() => client.send('POST /campaigns', `create campaign ${argv.name}`, { body }), argv.name);
    // The body asks for no dry run, so the answer is the created campaign.
    if ('dryRun' in status) throw new Error('the Director answered a dry run to a campaign creation');
    if (argv.json) {
      printJson(io, status);
      return;
    }
    io.print(`created campaign ${status.name} (#${status.id}, draft) for group ${status.group}: ${describeImages(status.images)} in ${plural(status.stages.length, 'stage')}`);
    printTable(io, ['STAGE', 'PLAN'], status.stages.map((s, i) => [String(i + 1), describeStage(s)]));
    const last = status.stages[status.stages.length - 1];
    if (last?.share !== undefined && last.share < 1) io.print(`note: the last stage is ${formatPercent(last.share)}, so the campaign stays running there and never completes; end with --stage 100% to reach everyone`);
    const created = status.history.find((e) => e.kind === 'created')?.details as { belowMinimumProfile?: unknown } | undefined;
    if (typeof created?.belowMinimumProfile === 'number') {
      io.print(
        `note: ${plural(created.belowMinimumProfile, 'vehicle')} of the group ${created.belowMinimumProfile === 1 ? 'has' : 'have'} an ECU whose security profile is below its image's minimum: ` +
          'the campaign will skip them (profile_assignment_refused); `uptane director vehicle set-profile` changes a profile once the ECU meets it',
      );
    }
    io.print(`next: \`uptane director campaign start ${status.name}\``);
  },
});

// ---------------------------------------------------------------------------------------------
// campaign start / pause / resume / advance / abort, status, list

const ACTIONS = {
  start: { describe: 'start a draft campaign: take the group\'s vehicles now and give stage 1 the update', done: 'started' },
  pause: { describe: 'pause a running campaign: no new stage starts (vehicles already assigned keep their assignment)', done: 'paused' },
  resume: { describe: 'resume a paused campaign; halt rules count signals from now on', done: 'resumed' },
  advance: { describe: 'move to the next stage now, whatever its rules say (also from paused)', done: 'advanced' },
  abort: { describe: 'end the campaign: assignments not yet installed are cancelled and vehicles stop seeing them', done: 'aborted' },
} as const;

type Action = keyof typeof ACTIONS;

const actionCommand = (io: CliEnvironment, action: Action): CommandModule<object, NameArgs> => ({
  command: `${action} <name>`,
  describe: ACTIONS[action].describe,
  builder: (yargs) =>
    // abort cannot be undone: it asks on a terminal, and a script says --yes (shared/cli/confirm.ts).
    (action === 'abort' ? withYes(withRemote(yargs, io)) : withRemote(yargs, io))
      .positional('name', { type: 'string', demandOption: true, describe: 'the campaign (name or id)' })
      .option('json', { type: 'boolean', default: false, describe: 'print the campaign status as JSON' })
      .example(`$0 director campaign ${action} ecm-2.1${action === 'abort' ? ' --yes' : ''}`, ACTIONS[action].describe.split(':')[0]!) as Argv<NameArgs>,
  handler: async (argv) => {
    if (action === 'abort') await confirmDestructive(io, argv as YesArgs, `abort campaign ${argv.name} (its assignments not yet installed are cancelled)`);
    const client = OperatorClient.from(io, argv);
    const status = await withHints(() => client.send('POST /campaigns/:campaign/:action', `${action} campaign ${argv.name}`, { params: { campaign: argv.name, action } }), argv.name);
    if (argv.json) {
      printJson(io, status);
      return;
    }
    const where = status.state === 'completed' || status.state === 'aborted' ? status.state : `${status.state}, stage ${status.stage} of ${status.stages.length}`;
    io.print(`${ACTIONS[action].done} campaign ${status.name}: now ${where}`);
    if (action === 'start') io.print(`${plural(status.vehicles, 'vehicle')} in the campaign; they get the update at their next check as their stage comes`);
    printStages(io, status);
    const last = status.history[status.history.length - 1];
    // The engine may decide at once (a halt rule, or a stage already met): say so.
    if (last !== undefined && last.actor === 'engine' && (last.kind === 'paused' || last.kind === 'advanced' || last.kind === 'completed')) {
      io.print(`the engine then ${last.kind === 'completed' ? 'completed it' : `${last.kind} it`}: ${describeEvent(last.kind, last.details)}`);
    }
    const next = nextStep(status);
    if (next !== undefined) io.print(`next: ${next}`);
  },
});

interface StatusArgs extends NameArgs {
  readonly vins: number;
  readonly stage?: number | undefined;
  readonly outcome?: string | undefined;
  readonly after?: string | undefined;
  readonly limit: number;
}

const campaignStatusCommand = (io: CliEnvironment): CommandModule<object, StatusArgs> => ({
  command: 'status <name>',
  describe:
    'per stage: vehicles pending, downloading, deferred while driving, installed, failed, rolled back, skipped (by reason), attacks, with the first VINs of each; why the stage waits; failure reasons; the history of decisions. With --stage or --outcome: those vehicles, a page at a time',
  builder: (yargs) =>
    withRemote(yargs, io)
      .positional('name', { type: 'string', demandOption: true, describe: 'the campaign (name or id)' })
      .option('vins', { type: 'number', default: 10, describe: 'VINs shown per stage and outcome in the summary, 0 to 1000 (counts are always whole)' })
      .option('stage', { type: 'number', requiresArg: true, describe: 'list the vehicles of this stage (1-based), a page at a time' })
      .option('outcome', { type: 'string', requiresArg: true, choices: [...CAMPAIGN_VEHICLE_OUTCOMES], describe: 'list the vehicles with this outcome, a page at a time, each with its reason' })
      .option('after', { type: 'string', requiresArg: true, describe: 'with --stage or --outcome: start after this VIN (the next page)' })
      .option('limit', { type: 'number', default: 100, describe: 'with --stage or --outcome: vehicles per page, 1 to 1000' })
      .option('json', { type: 'boolean', default: false, describe: 'print the full status (or the page) as JSON' })
      .check((argv) => {
        const whole = (name: string, min: number, max: number) => {
          const value = argv[name] as number | undefined;
          if (value !== undefined && (!Number.isInteger(value) || value < min || value > max)) throw new Error(`--${name} ${String(value)}: give a whole number from ${min} to ${max}`);
        };
        whole('vins', 0, 1000);
        whole('stage', 1, LIMITS.stages);
        whole('limit', 1, 1000);
        if (argv.after !== undefined && argv.stage === undefined && argv.outcome === undefined) throw new Error('--after pages a list: give --stage N or --outcome OUTCOME with it');
        return true;
      })
      .example('$0 director campaign status ecm-2.1', 'readable summary: counts, why the stage waits, the first VINs of each outcome')
      .example('$0 director campaign status ecm-2.1 --outcome failed', 'every failed vehicle with its reason, 100 at a time')
      .example('$0 director campaign status ecm-2.1 --stage 1 --outcome skipped --json', 'the skipped vehicles of stage 1 with their skip reasons, for tools')
      .example('$0 director campaign status ecm-2.1 --json', 'everything, for tools') as unknown as Argv<StatusArgs>,
  handler: async (argv) => {
    const client = OperatorClient.from(io, argv);
    if (argv.stage !== undefined || argv.outcome !== undefined) {
      const query = { stage: argv.stage, outcome: argv.outcome as CampaignVehicleOutcome | undefined, after: argv.after, limit: argv.limit };
      const page = await withHints(() => client.send('GET /campaigns/:campaign/vehicles', `list the vehicles of campaign ${argv.name}`, { params: { campaign: argv.name }, query }), argv.name);
      if (argv.json) {
        printJson(io, page);
        return;
      }
      const which = [argv.stage === undefined ? '' : `stage ${argv.stage}`, argv.outcome ?? ''].filter((w) => w !== '').join(', ');
      printTable(
        io,
        ['VIN', 'STAGE', 'OUTCOME', 'REASON'],
        page.vehicles.map((v) => [v.vin, v.stage === null ? '-' : String(v.stage), `${v.outcome}${v.deferredWhileDriving ? ' (driving)' : ''}${v.rolledBack ? ' (rolled back)' : ''}`, v.reason ?? '']),
        `no vehicles of campaign ${page.campaign} match (${which})`,
      );
      io.print(`${plural(page.vehicles.length, 'vehicle')} shown, ${page.total} in all (${which})`);
      if (page.next !== null) {
        const filters = `${argv.stage === undefined ? '' : ` --stage ${argv.stage}`}${argv.outcome === undefined ? '' : ` --outcome ${argv.outcome}`}`;
        io.print(`next page: uptane director campaign status ${argv.name}${filters} --after ${page.next} --limit ${argv.limit}`);
      }
      return;
    }
    const status = await withHints(() => client.send('GET /campaigns/:campaign', `show campaign ${argv.name}`, { params: { campaign: argv.name }, query: { vins: argv.vins } }), argv.name);
    if (argv.json) printJson(io, status);
    else printStatus(io, status);
  },
});

interface RetryArgs extends NameArgs {
  readonly vin?: string[] | undefined;
}

const campaignRetryCommand = (io: CliEnvironment): CommandModule<object, RetryArgs> => ({
  command: 'retry <name>',
  describe: 'give the failed vehicles of a campaign (or the named ones) the update again: new assignments for the ECUs whose install failed',
  builder: (yargs) =>
    withRemote(yargs, io)
      .positional('name', { type: 'string', demandOption: true, describe: 'the campaign (name or id)' })
      .option('vin', { type: 'string', array: true, requiresArg: true, describe: 'a failed vehicle to retry; repeat for several (default: every failed vehicle, up to 100,000 per run)' })
      .option('json', { type: 'boolean', default: false, describe: 'print {retried, notRetried, remaining, status} as JSON' })
      .example('$0 director campaign retry ecm-2.1', 'every failed vehicle, once the cause is fixed')
      .example('$0 director campaign retry ecm-2.1 --vin WVW123 --vin WVW124', 'only these two (each must have failed)')
      .epilogue(
        'A retry needs an operator token and is recorded in the audit log (campaign_retried). A vehicle whose ECU has another active assignment is not retried (the answer says why). ' +
          'An aborted campaign is refused (create a new one); a completed one runs again until the retried installs finish. `campaign status NAME --outcome failed` lists the failed vehicles.',
      ) as unknown as Argv<RetryArgs>,
  handler: async (argv) => {
    const client = OperatorClient.from(io, argv);
    const answer = await withHints(
      () => client.send('POST /campaigns/:campaign/retry', `retry the failed vehicles of campaign ${argv.name}`, { params: { campaign: argv.name }, body: argv.vin === undefined ? {} : { vins: argv.vin } }),
      argv.name,
    );
    if (argv.json) {
      printJson(io, answer);
      return;
    }
    io.print(`retried ${plural(answer.retried.length, 'failed vehicle')} of campaign ${answer.status.name}: they get the update again at their next check`);
    if (answer.retried.length > 0) io.print(`  ${answer.retried.slice(0, 20).join(' ')}${answer.retried.length > 20 ? ` and ${answer.retried.length - 20} more` : ''}`);
    if (answer.notRetried.length > 0) {
      io.print(`not retried: ${answer.notRetried.length}`);
      printTable(io, ['VIN', 'WHY'], answer.notRetried.map((v) => [v.vin, v.reason ?? '']));
    }
    if (answer.remaining > 0) io.print(`${answer.remaining} more failed vehicles: run the same command again for them`);
    io.print(`next: \`uptane director campaign status ${answer.status.name}\``);
  },
});

const campaignListCommand = (io: CliEnvironment): CommandModule<object, JsonArgs> => ({
  command: 'list',
  describe: 'the latest 200 campaigns, newest first, with their state and stage',
  builder: (yargs) =>
    withRemote(yargs, io)
      .option('json', { type: 'boolean', default: false, describe: 'print {campaigns} as JSON' })
      .example('$0 director campaign list', 'every recent campaign') as Argv<JsonArgs>,
  handler: async (argv) => {
    const client = OperatorClient.from(io, argv);
    const { campaigns } = await client.send('GET /campaigns', 'list campaigns');
    if (argv.json) {
      printJson(io, { campaigns });
      return;
    }
    printTable(
      io,
      ['ID', 'NAME', 'GROUP', 'STATE', 'STAGE'],
      campaigns.map((c) => [String(c.id), c.name, c.group, c.state, c.state === 'draft' ? `- of ${c.stages}` : `${c.stage} of ${c.stages}`]),
      'no campaigns yet: `uptane director campaign create --help` shows how',
    );
  },
});

// ---------------------------------------------------------------------------------------------
// The groups.

export const groupCommand = (io: CliEnvironment): CommandModule<object, object> => ({
  command: 'group',
  describe: 'vehicle groups for campaigns: static (VINs) or dynamic (a filter on the inventory)',
  builder: (yargs) =>
    yargs
      .command(groupCreateCommand(io))
      .command(groupListCommand(io))
      .command(groupShowCommand(io))
      .example('$0 director group create test-fleet --vin WVW123 --vin WVW124', 'two reserved test vehicles')
      .demandCommand(1, 'name a group subcommand: create, list or show'),
  handler: () => undefined,
});

export const campaignCommand = (io: CliEnvironment): CommandModule<object, object> => ({
  command: 'campaign',
  describe: 'staged rollouts to a group, with automatic halt rules: create, start, pause, resume, advance, abort, status, retry, list',
  builder: (yargs) =>
    yargs
      .command(campaignCreateCommand(io))
      .command((Object.keys(ACTIONS) as Action[]).map((action) => actionCommand(io, action)) as unknown as CommandModule<object, object>[])
      .command(campaignStatusCommand(io))
      .command(campaignRetryCommand(io))
      .command(campaignListCommand(io))
      .example('$0 director campaign create ecm-2.1 --group eu-sedans --image ecm-x1=engine/ecm-2.1.bin --stage 1% --stage 10% --stage 100%', 'define it')
      .example('$0 director campaign start ecm-2.1', 'then start it, and watch `campaign status ecm-2.1`')
      .demandCommand(1, 'name a campaign subcommand: create, start, pause, resume, advance, abort, status, retry or list'),
  handler: () => undefined,
});
