// Simulator profiles name each ECU's post-install health check (issue 21 item 6): `health:` on a
// primary or secondary becomes that ECU's soak (test/director/campaign-health.test.ts runs such a
// fleet). A profile may arrive over the control API, so it only takes the simulated probe: never a
// command to run or a file to read; a bad field is refused typed, naming it.
import { SimulationProfileError } from '../../shared/core/errors.js';
import { parseFleetProfileText } from '../../sim/control/profile.js';

const profile = (health: string) => `
profiles:
  sedan:
    primary: { hardwareId: tcu-a, health: { soakMs: 2000, probe: { kind: simulated } } }
    secondaries:
      - { name: ecm, hardwareId: ecm-x1, health: ${health} }
      - { name: abs, hardwareId: abs-z }
vehicles:
  - { profile: sedan, count: 2 }
`;

describe('profile health checks', () => {
  it('parses health per ECU into the vehicle group', () => {
    const parsed = parseFleetProfileText(profile('{ soakMs: 30000, pollMs: 500, maxInterruptedSoaks: 1, probe: { kind: simulated } }'));
    const [group] = parsed.groups;
    expect(group!.primary.health).toEqual({ soakMs: 2000, probe: { kind: 'simulated' } });
    expect(group!.secondaries[0]!.health).toEqual({ soakMs: 30000, pollMs: 500, maxInterruptedSoaks: 1, probe: { kind: 'simulated' } });
    expect(group!.secondaries[1]!.health).toBeUndefined();
  });

  it.each([
    ['{ soakMs: 1000, probe: { kind: exit, command: /bin/sh, args: [-c, "rm -rf /"] } }', /profiles\.sedan\.secondaries\[0\]\.health\.probe\.kind: must be simulated in a profile/],
    ['{ soakMs: 1000, probe: { kind: self-test-file, path: /etc/shadow } }', /health\.probe\.kind: must be simulated in a profile/],
    ['{ soakMs: -5, probe: { kind: simulated } }', /profiles\.sedan\.secondaries\[0\]\.health\.soakMs: must be a whole number/],
    ['{ soakMs: 1000, probe: { kind: simulated }, retries: 3 }', /health\.retries: unknown field/],
    ['yes', /health: must be a mapping/],
  ])('refuses health %s (SimulationProfileError)', (health, message) => {
    expect(() => parseFleetProfileText(profile(health))).toThrow(SimulationProfileError);
    expect(() => parseFleetProfileText(profile(health))).toThrow(message);
  });
});
