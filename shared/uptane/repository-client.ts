// One Uptane repository as an ECU reads it: TUF's client workflow as the steps Uptane's full
// verification names (#check_root, #check_timestamp, #check_snapshot, #check_targets), each after
// the previous one. The Director and Image repository clients differ in their targets step.
import { RepositoryUpdater, type RepositoryUpdaterOptions } from '../client/updater.js';

export abstract class RepositoryClient<Targets> {
  protected readonly updater: RepositoryUpdater;

  protected constructor(options: RepositoryUpdaterOptions) {
    this.updater = new RepositoryUpdater(options);
  }

  /** #check_root step 1: start from the root in local storage. */
  loadTrustedRoot(): void {
    this.updater.loadTrustedRoot();
  }

  /** #check_root: the root chain, with any key rotation the repository made. */
  updateRoot(): Promise<void> {
    return this.updater.updateRoot();
  }

  /** #check_timestamp. */
  updateTimestamp(): Promise<void> {
    return this.updater.updateTimestamp();
  }

  /**
   * #check_snapshot. Whether the snapshot changed is not returned: full verification step 6 asks
   * instead whether the targets list anything new, which unchanged metadata never does.
   */
  async updateSnapshot(): Promise<void> {
    await this.updater.updateSnapshot();
  }

  /** #check_targets, with what this repository kind adds to it. */
  abstract updateTargets(): Promise<Targets>;
}
