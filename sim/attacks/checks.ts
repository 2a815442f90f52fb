// The five checks every attack's verdict is held to (docs/code-style.md R13, test/attacks/README.md),
// shared by the jest attack tests and `uptane sim attack`: the cycle fails with the expected typed
// code; every ECU's trusted metadata and slot state is unchanged byte for byte; every installed
// image is unchanged; the attack is in the detecting ECU's next version report and at the operator
// (or, for a dropped request, a fault nobody reports); and with the attacker gone the next honest
// update installs. Each check answers with what it saw instead of throwing, so a caller prints them all.
import type { CycleResult } from '../../primary-ecu/primary.js';
import { installedImages, trustedState } from './attacker.js';
import { vehicleStatus, type AttackScene } from './scene.js';

/** What an attack must end in. */
export interface Expected {
  /** The typed error code. */
  readonly code: string;
  /** The ECU that detects it and reports it in its version report. */
  readonly detectedBy: string;
  /**
   * Where the code shows: the cycle error, the install outcome of an ECU, or (`report`) only in the
   * primary's record of attacks it will report, the cycle going on (a secondary's bad version report,
   * dropped by the primary: docs/threat-model.md H5).
   */
  readonly in: 'cycle' | 'outcome' | 'report';
  /** The ECU whose install outcome carries the code (default: the one that detects it). */
  readonly outcomeOf?: string;
  /**
   * ECUs out of the attack's reach that install their assigned image in the attack cycle all the same
   * (serial to image name): this design has no atomic install across ECUs (test/attacks/README.md,
   * mixed bundles). Checks 2 and 3 hold every other ECU to "unchanged" and these to "installed it".
   */
  readonly installsAnyway?: Readonly<Record<string, string>>;
  /**
   * ECUs that trust the attacker's metadata, because it is validly signed (stolen keys) and consistent
   * with the Image repository, and refuse only the image it leads to: check 2 holds their slot state
   * alone to "unchanged". The OEM's recovery is rotating the stolen keys (AttackScenario.recover).
   */
  readonly trustsValidMetadata?: readonly string[];
}

/** The five checks, and `also` for what one attack shows besides (AttackScenario.also). */
export type CheckName = 'typed-code' | 'trusted-state' | 'installed-images' | 'reported' | 'honest-update' | 'also';

export interface CheckResult {
  readonly check: CheckName;
  readonly ok: boolean;
  /** What was seen, in a sentence. */
  readonly detail: string;
}

/** What the ECU can tell: an attack (reported, halts campaigns), or a fault it cannot tell from an outage (docs/threat-model.md F5). */
export type Verdict = 'attack' | 'fault';

/** One line per check, in order, for people. */
export const CHECK_TITLES: Readonly<Record<CheckName, string>> = {
  'typed-code': '1. the attack is refused with the expected typed code',
  'trusted-state': "2. every ECU's trusted metadata and slot state unchanged, byte for byte",
  'installed-images': "3. every ECU's installed image unchanged",
  reported: '4. the attack is in the detecting ECU\'s next version report and the operator sees it',
  'honest-update': '5. with the attacker gone, the next honest update installs',
  also: '+ what this attack shows besides',
};

export const check = (name: CheckName, ok: boolean, detail: string): CheckResult => ({ check: name, ok, detail });

/** The paths whose hashes differ between two snapshots of trusted state (at most five named). */
function changedFiles(before: Record<string, string>, after: Record<string, string>): string[] {
  const paths = new Set([...Object.keys(before), ...Object.keys(after)]);
  return [...paths].filter((p) => before[p] !== after[p]).sort();
}

const listed = (paths: readonly string[]): string => `${paths.slice(0, 5).join(', ')}${paths.length > 5 ? ` and ${paths.length - 5} more` : ''}`;

/** Checks 1-3: runs the attack cycle and compares each ECU's state and image with before. */
export async function judgeAttackCycle(s: AttackScene, expected: Expected): Promise<{ readonly result: CycleResult; readonly checks: CheckResult[] }> {
  const installsAnyway = expected.installsAnyway ?? {};
  const trusting = expected.trustsValidMetadata ?? [];
  const reached = (path: string) =>
    !Object.keys(installsAnyway).some((serial) => path.startsWith(`${serial}/`)) && !trusting.some((serial) => path.startsWith(`${serial}/`) && !path.startsWith(`${serial}/slots/`));
  const only = (state: Record<string, string>) => Object.fromEntries(Object.entries(state).filter(([path]) => reached(path)));
  const stateBefore = only(trustedState(s.car));
  const installedBefore = installedImages(s.car);
  const recordedBefore = s.car.primary.reportedAttacks.length;
  const result = await s.car.primary.runCycle();
  return { result, checks: [typedCode(s, expected, result, recordedBefore), ...unchanged(s, only, stateBefore, installedBefore, installsAnyway)] };
}

/** Check 1: the code where `expected` says it shows. */
function typedCode(s: AttackScene, expected: Expected, result: CycleResult, recordedBefore: number): CheckResult {
  if (expected.in === 'report') {
    const recorded = s.car.primary.reportedAttacks.slice(recordedBefore).map((a) => a.code);
    return check(
      'typed-code',
      recorded.includes(expected.code),
      `the cycle ended ${result.status}; ${s.car.spec.primary.serial} recorded ${recorded.length === 0 ? 'no attack' : recorded.join(', ')} (expected ${expected.code})`,
    );
  }
  const ecu = expected.outcomeOf ?? expected.detectedBy;
  const outcome = result.outcomes[ecu];
  const seen = expected.in === 'cycle' ? result.error?.code : outcome?.status === 'failed' ? outcome.code : undefined;
  const where = expected.in === 'cycle' ? 'the cycle' : `${ecu}'s install outcome`;
  return check(
    'typed-code',
    result.status === 'failed' && seen === expected.code,
    result.status === 'failed' ? `${where}: ${seen ?? 'no error'} (expected ${expected.code})` : `the cycle ended ${result.status}, not failed (expected ${expected.code})`,
  );
}

/** Checks 2-3: every ECU the attack reaches unchanged; those out of its reach installed what they were assigned. */
function unchanged(
  s: AttackScene,
  only: (state: Record<string, string>) => Record<string, string>,
  stateBefore: Record<string, string>,
  installedBefore: Record<string, { filename: string }>,
  installsAnyway: Readonly<Record<string, string>>,
): CheckResult[] {
  const stateChanged = changedFiles(stateBefore, only(trustedState(s.car)));
  const installedAfter = installedImages(s.car);
  const imagesChanged = Object.keys({ ...installedBefore, ...installedAfter }).filter(
    (serial) => !(serial in installsAnyway) && JSON.stringify(installedBefore[serial]) !== JSON.stringify(installedAfter[serial]),
  );
  const notInstalled = Object.entries(installsAnyway).filter(([serial, name]) => installedAfter[serial]?.filename !== name);
  const bystanders = Object.keys(installsAnyway).length === 0 ? '' : `; out of its reach, ${Object.entries(installsAnyway).map(([serial, name]) => `${serial} installed ${name}`).join(', ')}`;
  return [
    check('trusted-state', stateChanged.length === 0, stateChanged.length === 0 ? `${Object.keys(stateBefore).length} files unchanged${bystanders}` : `changed: ${listed(stateChanged)}`),
    check(
      'installed-images',
      imagesChanged.length === 0 && notInstalled.length === 0,
      imagesChanged.length === 0 && notInstalled.length === 0
        ? `${Object.entries(installedAfter).map(([serial, i]) => `${serial} ${i.filename}`).join(', ')}${bystanders}`
        : [
            ...imagesChanged.map((serial) => `${serial}: ${installedBefore[serial]?.filename} -> ${installedAfter[serial]?.filename}`),
            ...notInstalled.map(([serial, name]) => `${serial} runs ${installedAfter[serial]?.filename}, expected to install ${name}`),
          ].join(', '),
    ),
  ];
}

/**
 * Checks 4-5: the attacker leaves (network, bus and the manifests' way to the Director); the next honest cycle installs, and its vehicle
 * version manifest carries the attack in the detecting ECU's report, which the operator sees. For a
 * fault, no report of any ECU carries an attack and the operator sees none.
 */
export async function judgeAftermath(s: AttackScene, expected: Pick<Expected, 'code' | 'detectedBy'>, verdict: Verdict = 'attack'): Promise<CheckResult[]> {
  s.net.clear();
  s.bus.clear();
  s.recorder.dropManifests = false;
  const sent = s.recorder.manifests.length;
  const result = await s.car.primary.runCycle();
  const honest = check(
    'honest-update',
    result.status === 'installed',
    `the next cycle ended ${result.status}${result.error === undefined ? '' : ` (${result.error.code}: ${result.error.message})`}`,
  );
  const manifest = s.recorder.manifests[sent];
  const operatorSees = ((await vehicleStatus(s)).attacks ?? []) as ReadonlyArray<{ ecuSerial?: string; code?: string }>;
  if (manifest === undefined) return [check('reported', false, 'no vehicle version manifest reached the Director after the attack'), honest];
  const reports = manifest.signed.ecu_version_reports;
  if (verdict === 'fault') {
    const reported = Object.entries(reports).flatMap(([serial, r]) => r.signed.attacks_detected.map((a) => `${serial} ${a.code}`));
    const ok = reported.length === 0 && operatorSees.length === 0;
    return [check('reported', ok, ok ? 'a fault, not an attack: no ECU reported one and the operator sees none' : `reported as an attack: ${[...reported, ...operatorSees.map((a) => `operator: ${a.ecuSerial} ${a.code}`)].join(', ')}`), honest];
  }
  const inReport = (reports[expected.detectedBy]?.signed.attacks_detected ?? []).some((a) => a.code === expected.code);
  const atOperator = operatorSees.some((a) => a.ecuSerial === expected.detectedBy && a.code === expected.code);
  return [
    check(
      'reported',
      inReport && atOperator,
      `${expected.detectedBy}'s next report ${inReport ? 'carries' : 'lacks'} ${expected.code}; the operator ${atOperator ? 'sees' : 'does not see'} it`,
    ),
    honest,
  ];
}

/** All five checks on one attack whose move is already in place. */
export async function judgeAttack(s: AttackScene, expected: Expected, verdict: Verdict = 'attack'): Promise<CheckResult[]> {
  const { checks } = await judgeAttackCycle(s, expected);
  return [...checks, ...(await judgeAftermath(s, expected, verdict))];
}

/** The checks that did not pass. */
export const failedChecks = (checks: readonly CheckResult[]): CheckResult[] => checks.filter((c) => !c.ok);
