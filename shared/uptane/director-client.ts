// The Director repository as an ECU reads it. Its targets step includes the Director-only checks
// (#check_targets steps 6-8 and the VIN), so no caller can read Director targets without them.
import type { RepositoryUpdaterOptions } from '../client/updater.js';
import { RepositoryClient } from './repository-client.js';
import { checkDirectorTargets, type EcuTarget, type VehicleScope } from './uptane-checks.js';

export interface DirectorClientOptions extends Omit<RepositoryUpdaterOptions, 'repository' | 'targetsUrl'> {
  /** The vehicle the Director's targets must be for. */
  readonly vehicle: VehicleScope;
}

export class DirectorClient extends RepositoryClient<EcuTarget[]> {
  private readonly vehicle: VehicleScope;

  constructor({ vehicle, ...options }: DirectorClientOptions) {
    // The Director serves metadata only: images come from the Image repository.
    super({ ...options, repository: 'director' });
    this.vehicle = vehicle;
  }

  /** #check_targets on the Director's targets, then steps 6-8: the images it assigns, per ECU. */
  async updateTargets(): Promise<EcuTarget[]> {
    const targets = await this.updater.updateTargets();
    return checkDirectorTargets(targets.signed, this.vehicle);
  }
}
