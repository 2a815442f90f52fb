// The simulated vehicle most ECU tests start from, created against running repositories and
// registered with the Director: primary tcu-1, secondary ecm-1 (partial verification) and secondary
// abs-1 (full verification), unless a test names its own ECUs.
import { SimulatedVehicle, type SimulatedVehicleSpec } from '../../sim/vehicle.js';
import type { Repositories } from '../../sim/harness/fleet-fixtures.js';

export const REFERENCE_ECUS: Pick<SimulatedVehicleSpec, 'primary' | 'secondaries'> = {
  primary: { serial: 'tcu-1', hardwareId: 'tcu-a' },
  secondaries: [
    { serial: 'ecm-1', hardwareId: 'ecm-x1' },
    { serial: 'abs-1', hardwareId: 'abs-z', verification: 'full' },
  ],
};

type Spec = Omit<SimulatedVehicleSpec, 'imageRepoUrl' | 'directorRoot' | 'imageRoot' | 'directorUrl' | 'primary' | 'secondaries'> &
  Partial<Pick<SimulatedVehicleSpec, 'directorUrl' | 'primary' | 'secondaries'>>;

/** A simulated vehicle for `repos` (the Director's URL unless `spec.directorUrl` is a proxy), registered. */
export async function registeredVehicle(repos: Repositories, spec: Spec): Promise<SimulatedVehicle> {
  const car = await SimulatedVehicle.create({
    ...REFERENCE_ECUS,
    directorUrl: repos.director.url,
    imageRepoUrl: repos.image.url,
    directorRoot: repos.directorRoot,
    imageRoot: repos.imageRoot,
    ...spec,
  });
  expect((await repos.operator('POST', '/api/v1/vehicles', car.registration())).status).toBe(201);
  return car;
}
