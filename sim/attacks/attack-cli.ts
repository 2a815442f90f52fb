// `uptane sim attack`: plays catalogued attacks (catalogue.ts, the same objects test/attacks/
// iterates) by name, by group or all of them, each on a fresh scene (real Image repository and
// Director on loopback, in a temporary folder removed afterwards), and prints each of the five
// checks; NDJSON and JUnit XML for CI; exit 0 only when every check of every attack passes.
import { resolve } from 'node:path';
import type { Argv, CommandModule } from 'yargs';
import { printJson } from '../../shared/cli/cli-output.js';
import type { CliEnvironment } from '../../shared/cli/environment.js';
import { writeFileAtomic } from '../../shared/files/fs-atomic.js';
import { attacksJunit, attacksNdjson, runJson, runPassed, runsSummary, type AttackRun } from './attack-results.js';
import { ATTACK_GROUPS, ATTACKS, findAttack, findGroup, groupOf } from './catalogue.js';
import { CHECK_TITLES } from './checks.js';
import { playAttack, type AttackScenario } from './scenario.js';
import { closeAttackScene, startAttackScene } from './scene.js';

interface AttackArgs {
  readonly names?: string[];
  readonly list: boolean;
  readonly all: boolean;
  readonly group?: string;
  readonly json: boolean;
  readonly resultsNdjson?: string;
  readonly junit?: string;
}

/** The names closest to a mistyped one: those sharing its threat-model id, else those containing a word of it. */
function suggestions(name: string): string[] {
  const id = name.split('-')[0]!;
  const sameId = ATTACKS.filter((a) => a.name.split('-')[0] === id).map((a) => a.name);
  if (sameId.length > 0) return sameId;
  const words = name.split('-').filter((w) => w.length > 3);
  return ATTACKS.filter((a) => words.some((w) => a.name.includes(w))).map((a) => a.name).slice(0, 5);
}

const describeExpected = (a: AttackScenario): string =>
  `${a.expected.code} from ${a.expected.detectedBy}${a.verdict === 'fault' ? ' (a fault, not reported as an attack)' : ''}`;

const groupNames = ATTACK_GROUPS.map((g) => g.name);

/** The attacks the arguments name: every one (--all), a group's, and the names given, in catalogue order, each once. */
function selection(argv: AttackArgs): readonly AttackScenario[] {
  const chosen = new Set<AttackScenario>();
  if (argv.all) ATTACKS.forEach((a) => chosen.add(a));
  if (argv.group !== undefined) {
    const group = findGroup(argv.group);
    if (group === undefined) throw new Error(`no attack group named ${JSON.stringify(argv.group)}; the groups are ${groupNames.join(', ')}`);
    group.attacks.forEach((a) => chosen.add(a));
  }
  for (const name of argv.names ?? []) {
    const attack = findAttack(name);
    if (attack === undefined) {
      const close = suggestions(name);
      throw new Error(`no attack named ${JSON.stringify(name)}${close.length > 0 ? `; did you mean ${close.join(', ')}?` : ''} (uptane sim attack --list shows them all)`);
    }
    chosen.add(attack);
  }
  return ATTACKS.filter((a) => chosen.has(a));
}

/** Plays one attack on a scene of its own; a scene that fails before the checks can judge is an error of that run, not of the command. */
async function play(io: CliEnvironment, attack: AttackScenario): Promise<AttackRun> {
  const group = groupOf(attack).name;
  const started = Date.now();
  io.warn(`starting an Image repository and a Director on loopback for ${attack.name} ...`);
  try {
    const scene = await startAttackScene();
    try {
      io.warn(`Image repository ${scene.repos.image.url}, Director ${scene.repos.director.url}, vehicle ${scene.car.spec.vin} in ${scene.dir}`);
      return { attack, group, checks: await playAttack(scene, attack), ms: Date.now() - started };
    } finally {
      await closeAttackScene(scene);
    }
  } catch (err) {
    return { attack, group, checks: [], error: err instanceof Error ? err.message : String(err), ms: Date.now() - started };
  }
}

function printRun(io: CliEnvironment, run: AttackRun): void {
  const a = run.attack;
  io.print(`${a.name}: ${a.title}`);
  io.print(`attacker: ${a.position}; expected: ${describeExpected(a)}`);
  for (const c of run.checks) io.print(`${c.ok ? 'PASS' : 'FAIL'} ${CHECK_TITLES[c.check]}: ${c.detail}`);
  if (run.error !== undefined) io.print(`ERROR the scene failed before the checks could judge: ${run.error}`);
  else io.print(`${run.checks.filter((c) => c.ok).length}/${run.checks.length} checks passed`);
}

export const attackCommand = (io: CliEnvironment): CommandModule<object, AttackArgs> => ({
  command: 'attack [names..]',
  describe: 'play attacks of test/attacks/ against real servers on loopback and run their five checks',
  builder: (yargs) =>
    (yargs
      .positional('names', { type: 'string', array: true, describe: 'the attacks, as --list names them' })
      .option('list', { type: 'boolean', default: false, describe: 'list the attacks (of --group, if given) with where the attacker sits and what must stop them' })
      .option('all', { type: 'boolean', default: false, describe: 'play every catalogued attack, one after another' })
      .option('group', { type: 'string', requiresArg: true, choices: groupNames, describe: 'play (or with --list, list) the attacks of one group' })
      .option('json', { type: 'boolean', default: false, describe: 'print the list, or the attacks and their checks, as JSON' })
      .option('results-ndjson', { type: 'string', requiresArg: true, describe: 'write each attack played, then the summary, as one JSON object a line to this file' })
      .option('junit', { type: 'string', requiresArg: true, describe: 'write the attacks played as JUnit XML to this file (a suite per group; a failed check is a <failure>)' })
      .example('$0 sim attack --list', 'every attack by name')
      .example('$0 sim attack g1-image-modified-in-transit', 'an image altered on the network: refused with hash_mismatch, reported, and the next honest update installs')
      .example('$0 sim attack --group network --junit attacks.xml --results-ndjson attacks.ndjson', 'a whole group for CI: exit 1 if any check of any attack fails')
      .epilogue(
        'Each attack starts its own Image repository and Director on loopback (real SQLite, real signatures, a fixed clock) in a temporary folder, ' +
          'with a vehicle of three ECUs (tcu-1 full verification, ecm-1 partial, abs-1 full), and holds the outcome to five checks: ' +
          Object.values(CHECK_TITLES).slice(0, 5).join('; ') +
          `; some attacks add checks of their own (${CHECK_TITLES.also}). Groups: ${groupNames.join(', ')}. ` +
          'Exit status 0 when every check of every attack played passes, 1 otherwise. The same attacks run in `npm test` (test/attacks/).',
      )) as unknown as Argv<AttackArgs>,
  handler: async (argv) => {
    if (argv.list) {
      const listed = argv.group === undefined ? ATTACKS : selection({ ...argv, names: [], all: false });
      if (argv.json) {
        printJson(io, listed.map((a) => ({ name: a.name, group: groupOf(a).name, title: a.title, position: a.position, expected: a.expected, verdict: a.verdict ?? 'attack', vector: a.vector })));
        return;
      }
      for (const a of listed) {
        io.print(`${a.name.padEnd(44)} ${a.position}; expects ${describeExpected(a)}`);
        io.print(`  ${a.title}`);
      }
      return;
    }
    const attacks = selection(argv);
    if (attacks.length === 0) throw new Error('name an attack, --group or --all (uptane sim attack --list shows them), e.g. uptane sim attack g1-image-modified-in-transit');
    const runs: AttackRun[] = [];
    for (const attack of attacks) {
      const run = await play(io, attack);
      runs.push(run);
      if (!argv.json) {
        printRun(io, run);
        if (attacks.length > 1) io.print('');
      }
      if (attacks.length > 1) io.warn(`${runs.length}/${attacks.length} ${run.attack.name}: ${runPassed(run) ? 'passed' : 'FAILED'}`);
    }
    if (argv.resultsNdjson !== undefined) {
      writeFileAtomic(resolve(argv.resultsNdjson), Buffer.from(attacksNdjson(runs)));
      io.warn(`wrote NDJSON to ${argv.resultsNdjson}`);
    }
    if (argv.junit !== undefined) {
      writeFileAtomic(resolve(argv.junit), Buffer.from(attacksJunit(runs)));
      io.warn(`wrote JUnit XML to ${argv.junit}`);
    }
    const summary = runsSummary(runs);
    if (argv.json) printJson(io, runs.length === 1 ? runJson(runs[0]!) : { ...summary, runs: runs.map(runJson) });
    else if (runs.length > 1) io.print(`${summary.passed}/${summary.attacks} attacks passed every check${summary.failed.length > 0 ? `; failed: ${summary.failed.join(', ')}` : ''}`);
    if (summary.failed.length > 0) {
      const only = runs.length === 1 ? runs[0]! : undefined;
      if (only !== undefined && only.error === undefined) {
        const failed = only.checks.filter((c) => !c.ok);
        throw new Error(`${failed.length} of ${only.checks.length} checks failed for ${only.attack.name}: ${failed.map((c) => c.check).join(', ')}`);
      }
      throw new Error(`${summary.failed.length} of ${summary.attacks} attacks failed: ${summary.failed.join(', ')}`);
    }
  },
});
