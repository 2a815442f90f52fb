// Is a staged role ready to push? Every check a client or the server will make, made locally first,
// so a push never publishes (or even sends) metadata that would be refused: version above the
// published one, not expired, each authority's threshold met, delegated images inside the
// delegation, and for root the exact #check_root chain check TrustedMetadataSet.updateRoot makes.
import { nodeBackend } from '../core/crypto/ed25519.js';
import {
  ExpiredMetadataError,
  RollbackError,
  UnauthorizedTargetError,
  UnmetThresholdError,
  UptaneError,
  WorkspaceError,
} from '../core/errors.js';
import { serializeMetadata } from '../core/metadata/sign.js';
import { isAuthorizedFor } from '../core/metadata/delegation.js';
import { isExpired, TrustedMetadataSet } from '../core/trusted-metadata-set.js';
import { delegationOf, signingAuthorities, type SigningAuthority } from './authority.js';
import type { StagedMetadata, WorkspaceFiles } from './files.js';
import { commandHint, shortKeyId } from './hints.js';
import { isDelegatedRole } from './roles.js';
import { authorizedKey, signatureProgress } from './signatures.js';
import { roleOption } from './targets-edits.js';

/**
 * The bytes to push: canonical JSON of the envelope, keeping only signatures some authority counts
 * (a stale or stray signature helps no client and only confuses the next reader).
 */
export function envelopeForPush(staged: StagedMetadata, authorities: readonly SigningAuthority[]): Buffer {
  const signatures = staged.signatures.filter(({ keyid, sig }) => authorizedKey(authorities, keyid)?.verify(staged.signedBytes, sig, nodeBackend) === true);
  return serializeMetadata({ signed: staged.signed, signatures });
}

function thresholdProblems(files: WorkspaceFiles, role: string, staged: StagedMetadata, authorities: readonly SigningAuthority[]): UptaneError[] {
  const repo = files.config.repository;
  return signatureProgress(staged, authorities)
    .filter((p) => !p.met)
    .map(
      (p) =>
        new UnmetThresholdError(
          `${role} v${staged.signed.version} has ${p.signed.length} of the ${p.threshold} signature(s) required by the ${p.label}; still needed from ${p.threshold - p.signed.length} of: ${p.missing.map(shortKeyId).join(', ')} (\`${commandHint(repo, `sign --role ${role} --key FILE`)}\`, or \`${commandHint(repo, `sign-request export --role ${role}`)}\` for an offline signer)`,
          { repository: repo, role },
        ),
    );
}

/** #check_root, exactly as clients will run it: from the published root N to the staged N+1 (or root v1 on its own). */
function rootChainProblems(files: WorkspaceFiles, staged: StagedMetadata, authorities: readonly SigningAuthority[], now: Date): UptaneError[] {
  const repo = files.config.repository;
  const bytes = envelopeForPush(staged, authorities);
  const published = files.published.load('root');
  try {
    if (published === undefined) {
      if (staged.signed.version !== 1) {
        return [
          new WorkspaceError(
            `staged root v${staged.signed.version} cannot be checked: this workspace has no published root v${staged.signed.version - 1} (\`${commandHint(repo, 'pull')}\`)`,
            { repository: repo, role: 'root' },
          ),
        ];
      }
      new TrustedMetadataSet(bytes, now, { repository: repo, backend: nodeBackend });
    } else {
      new TrustedMetadataSet(published, now, { repository: repo, backend: nodeBackend }).updateRoot(bytes);
    }
  } catch (err) {
    if (err instanceof UptaneError) return [err];
    throw err;
  }
  return [];
}

/** Every reason the staged `role` cannot be pushed yet (empty when ready, or when nothing is staged). */
export function readinessProblems(files: WorkspaceFiles, role: string, now: Date): UptaneError[] {
  const repo = files.config.repository;
  const staged = files.loadStaged(role);
  if (staged === undefined) return [];
  const problems: UptaneError[] = [];
  const publishedVersion = files.loadPublished(role)?.signed.version ?? 0;
  if (staged.signed.version <= publishedVersion) {
    problems.push(
      new RollbackError(
        `staged ${role} v${staged.signed.version} is not above published v${publishedVersion}: discard it (\`${commandHint(repo, `discard --role ${role}`)}\`) and stage the change again`,
        { repository: repo, role },
      ),
    );
  }
  if (isExpired(staged.signed.expires, now)) {
    const fix = role === 'root' ? 'root expires 365d' : `targets expires 90d${roleOption(role)}`;
    problems.push(
      new ExpiredMetadataError(`staged ${role} expired at ${staged.signed.expires}: set a new expiry (\`${commandHint(repo, fix)}\`) and sign again`, {
        repository: repo,
        role,
      }),
    );
  }
  let authorities: SigningAuthority[];
  try {
    authorities = signingAuthorities(files, role);
  } catch (err) {
    if (err instanceof WorkspaceError) return [...problems, err];
    throw err;
  }
  problems.push(...thresholdProblems(files, role, staged, authorities));
  if (isDelegatedRole(role)) {
    const { delegator } = delegationOf(files, role);
    for (const name of Object.keys(staged.signed._type === 'targets' ? staged.signed.targets : {})) {
      if (!isAuthorizedFor(delegator, role, name)) {
        problems.push(new UnauthorizedTargetError(`${role} lists ${name}, outside the paths its delegation allows`, { repository: repo, role }));
      }
    }
  }
  // The chain check repeats the threshold checks in the client's own words; run it only when they
  // pass, so a person sees one clear message per missing signature rather than two.
  if (role === 'root' && problems.length === 0) problems.push(...rootChainProblems(files, staged, authorities, now));
  return problems;
}

/** Throws the first readiness problem of `role`, or returns the bytes to push. */
export function verifyReadyToPush(files: WorkspaceFiles, role: string, now: Date): Buffer {
  const staged = files.loadStaged(role);
  if (staged === undefined) throw new WorkspaceError(`nothing is staged for ${role}`, { repository: files.config.repository, role });
  const [first] = readinessProblems(files, role, now);
  if (first !== undefined) throw first;
  return envelopeForPush(staged, signingAuthorities(files, role));
}
