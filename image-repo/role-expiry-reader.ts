// The expiry guardian's reader on the Image repository (issue 19, part 6): every published role, as
// its store holds the latest version of each (root, targets and its delegations signed offline;
// snapshot and timestamp signed online by the server).
import { readRoleFacts, type RoleFacts } from '../shared/uptane/role-expiry.js';
import type { MetadataStore } from './store/metadata.js';
import { IMAGE_ONLINE_ROLES } from './repository.js';

export function imageRoleFacts(store: Pick<MetadataStore, 'latest'>): Promise<RoleFacts[]> {
  return readRoleFacts('image', async (role) => (await store.latest(role))?.bytes, new Set<string>(IMAGE_ONLINE_ROLES));
}
