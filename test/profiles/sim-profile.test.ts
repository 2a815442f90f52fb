// Simulator fleet profiles name each ECU's security profile (docs/security-profiles.md;
// docs/simulator.md): `securityProfile:` on a primary or secondary reaches the ECU's folder and the
// Director's inventory; a value that names no profile, or standard or high on a partial-verification
// secondary, is refused typed, naming the field, before any vehicle is made.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FixedClock } from '../../shared/core/clock.js';
import { SimulationProfileError } from '../../shared/core/errors.js';
import { parseFleetProfileText } from '../../sim/control/profile.js';
import { Fleet } from '../../sim/fleet.js';
import { FIXTURE_NOW, startRepositories } from '../../sim/harness/fleet-fixtures.js';

const profile = (tcu: string, ecm: string, abs: string) => `
profiles:
  sedan:
    primary: { hardwareId: tcu-a${tcu} }
    secondaries:
      - { name: ecm, hardwareId: ecm-x1${ecm} }
      - { name: abs, hardwareId: abs-z, verification: full${abs} }
vehicles:
  - { profile: sedan, count: 1 }
`;

describe('fleet profiles: securityProfile per ECU', () => {
  it('parses it per ECU, absent where not given', () => {
    const [group] = parseFleetProfileText(profile(', securityProfile: high', '', ', securityProfile: basic')).groups;
    expect([group!.primary.securityProfile, group!.secondaries[0]!.securityProfile, group!.secondaries[1]!.securityProfile]).toEqual(['high', undefined, 'basic']);
  });

  it.each([
    ['a name that is no profile', profile(', securityProfile: medium', '', ''), /profiles\.sedan\.primary\.securityProfile: must be one of basic, standard, high/],
    ['standard on a partial-verification secondary', profile('', ', securityProfile: standard', ''), /profiles\.sedan\.secondaries\[0\]\.securityProfile: profile standard needs full verification.*give this ECU verification: full, or a lower profile/],
    ['high on a partial-verification secondary', profile('', ', securityProfile: high', ''), /secondaries\[0\]\.securityProfile: profile high needs full verification/],
  ])('refuses %s (SimulationProfileError)', (_what, text, message) => {
    expect(() => parseFleetProfileText(text)).toThrow(SimulationProfileError);
    expect(() => parseFleetProfileText(text)).toThrow(message);
  });

  it("reaches each ECU's folder and the Director's inventory", async () => {
    const clock = new FixedClock(FIXTURE_NOW);
    const repos = await startRepositories(clock, 'sim-profiles');
    const dir = mkdtempSync(join(tmpdir(), 'uptane-sim-profiles-'));
    try {
      const { groups } = parseFleetProfileText(profile(', securityProfile: high', '', ', securityProfile: basic'));
      const fleet = await Fleet.start({
        size: 1,
        secondariesPerVehicle: 2,
        seed: 'sim-profiles',
        directory: dir,
        directorUrl: repos.director.url,
        imageRepoUrl: repos.image.url,
        directorRoot: repos.directorRoot,
        imageRoot: repos.imageRoot,
        clock,
        groups,
        register: async (registration) => {
          const result = await repos.operator('POST', '/api/v1/vehicles', registration);
          if (result.status !== 201) throw new Error(JSON.stringify(result.json));
        },
      });
      const vin = fleet.records[0]!.vehicle.spec.vin;
      const status = await repos.operator('GET', `/api/v1/vehicles/${vin}`);
      const ecus = status.json.ecus as Array<{ serial: string; securityProfile: string }>;
      expect(Object.fromEntries(ecus.map((e) => [e.serial, e.securityProfile]))).toEqual({ [`${vin}-tcu`]: 'high', [`${vin}-ecm`]: 'basic', [`${vin}-abs`]: 'basic' });
      const identity = JSON.parse(readFileSync(join(dir, vin, `${vin}-tcu`, 'identity.json'), 'utf8')) as { securityProfile: string; secondaries: Record<string, { securityProfile: string }> };
      expect([identity.securityProfile, identity.secondaries[`${vin}-ecm`]!.securityProfile, identity.secondaries[`${vin}-abs`]!.securityProfile]).toEqual(['high', 'basic', 'basic']);
    } finally {
      await repos.close();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
