// `uptane sim attack`: plays one catalogued attack (catalogue.ts, the same objects test/attacks/
// iterates) on a fresh scene (real Image repository and Director on loopback, in a temporary folder
// removed afterwards), and prints each of the five checks; exit 0 only when all five pass.
import type { Argv, CommandModule } from 'yargs';
import { printJson } from '../../shared/cli/cli-output.js';
import type { CliEnvironment } from '../../shared/cli/environment.js';
import { ATTACKS, findAttack } from './catalogue.js';
import { CHECK_TITLES, failedChecks } from './checks.js';
import { playAttack, type AttackScenario } from './scenario.js';
import { closeAttackScene, startAttackScene } from './scene.js';

interface AttackArgs {
  readonly name?: string;
  readonly list: boolean;
  readonly json: boolean;
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

export const attackCommand = (io: CliEnvironment): CommandModule<object, AttackArgs> => ({
  command: 'attack [name]',
  describe: 'play one attack of test/attacks/ against real servers on loopback and run its five checks',
  builder: (yargs) =>
    (yargs
      .positional('name', { type: 'string', describe: 'the attack, as --list names it' })
      .option('list', { type: 'boolean', default: false, describe: 'list the attacks with where the attacker sits and what must stop them' })
      .option('json', { type: 'boolean', default: false, describe: 'print the list, or the attack and its checks, as JSON' })
      .example('$0 sim attack --list', 'every attack by name')
      .example('$0 sim attack g1-image-modified-in-transit', 'an image altered on the network: refused with hash_mismatch, reported, and the next honest update installs')
      .epilogue(
        'Each attack starts its own Image repository and Director on loopback (real SQLite, real signatures, a fixed clock) in a temporary folder, ' +
          'with a vehicle of three ECUs (tcu-1 full verification, ecm-1 partial, abs-1 full), and holds the outcome to five checks: ' +
          Object.values(CHECK_TITLES).join('; ') +
          '. Exit status 0 when all five pass, 1 otherwise. The same attacks run in `npm test` (test/attacks/).',
      )) as unknown as Argv<AttackArgs>,
  handler: async (argv) => {
    if (argv.list) {
      if (argv.json) {
        printJson(io, ATTACKS.map((a) => ({ name: a.name, title: a.title, position: a.position, expected: a.expected, verdict: a.verdict ?? 'attack', vector: a.vector })));
        return;
      }
      for (const a of ATTACKS) {
        io.print(`${a.name.padEnd(44)} ${a.position}; expects ${describeExpected(a)}`);
        io.print(`  ${a.title}`);
      }
      return;
    }
    if (argv.name === undefined) throw new Error('name an attack (uptane sim attack --list shows them), e.g. uptane sim attack g1-image-modified-in-transit');
    const attack = findAttack(argv.name);
    if (attack === undefined) {
      const close = suggestions(argv.name);
      throw new Error(`no attack named ${JSON.stringify(argv.name)}${close.length > 0 ? `; did you mean ${close.join(', ')}?` : ''} (uptane sim attack --list shows them all)`);
    }
    io.warn(`starting an Image repository and a Director on loopback for ${attack.name} ...`);
    const scene = await startAttackScene();
    let checks;
    try {
      io.warn(`Image repository ${scene.repos.image.url}, Director ${scene.repos.director.url}, vehicle ${scene.car.spec.vin} in ${scene.dir}`);
      checks = await playAttack(scene, attack);
    } finally {
      await closeAttackScene(scene);
    }
    const failed = failedChecks(checks);
    if (argv.json) {
      printJson(io, { name: attack.name, title: attack.title, position: attack.position, expected: attack.expected, verdict: attack.verdict ?? 'attack', passed: failed.length === 0, checks });
    } else {
      io.print(`${attack.name}: ${attack.title}`);
      io.print(`attacker: ${attack.position}; expected: ${describeExpected(attack)}`);
      for (const c of checks) io.print(`${c.ok ? 'PASS' : 'FAIL'} ${CHECK_TITLES[c.check]}: ${c.detail}`);
      io.print(`${checks.length - failed.length}/${checks.length} checks passed`);
    }
    if (failed.length > 0) throw new Error(`${failed.length} of ${checks.length} checks failed for ${attack.name}: ${failed.map((c) => c.check).join(', ')}`);
  },
});
