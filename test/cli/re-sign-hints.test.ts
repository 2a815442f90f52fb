// Expired metadata is refused safely by vehicles, the Director and push; the people who can fix it
// are told what to run (issue 20, finding 9): the hint, the workspace status of a published role that
// expired, and the CLI's error for an ExpiredMetadataError or a Director that refused over one.
import { describeFailure } from '../../shared/cli/failure-report.js';
import { ExpiredMetadataError, OperatorRequestError } from '../../shared/core/errors.js';
import { reSignHint } from '../../shared/workspace/hints.js';
import { formatStatus, statusVerdict, type WorkspaceStatus } from '../../shared/workspace/status.js';

describe('reSignHint', () => {
  it('names the commands for a role signed offline', () => {
    expect(reSignHint('image', 'targets')).toBe('re-sign with `uptane image targets expires 90d`, then `uptane image sign --role targets --key FILE` and `uptane image push`');
    expect(reSignHint('image', 'acme')).toBe('re-sign with `uptane image targets expires 90d --role acme`, then `uptane image sign --role acme --key FILE` and `uptane image push`');
    expect(reSignHint('director', 'root')).toBe('re-sign with `uptane director root expires 365d`, then `uptane director sign --role root --key FILE` and `uptane director push`');
  });

  it('points at the server for a role it signs online', () => {
    expect(reSignHint('director', 'targets')).toMatch(/^the director server re-signs targets itself/);
    expect(reSignHint('image', 'timestamp')).toMatch(/^the image server re-signs timestamp itself/);
  });
});

describe('workspace status of a published role that expired', () => {
  const status: WorkspaceStatus = {
    workspace: '/ws',
    repository: 'image',
    roles: [
      { role: 'targets', published: { version: 4, expires: '2026-01-01T00:00:00Z', expiresIn: '3d ago', expired: true, expiresSoon: true }, next: 'uptane image targets expires 90d' },
    ],
    readyToPush: false,
  };

  it('says it expired, when, and what to run; the verdict is expired', () => {
    const lines = formatStatus(status);
    expect(lines).toContain('  targets expired on 2026-01-01T00:00:00Z: re-sign with `uptane image targets expires 90d`, then `uptane image sign --role targets --key FILE` and `uptane image push`');
    expect(statusVerdict(status).verdict).toBe('expired');
  });
});

describe('the CLI error for expired metadata', () => {
  it('adds the re-sign commands to what a vehicle or pull refused', () => {
    const text = describeFailure(new ExpiredMetadataError('targets expired at 2026-01-01T00:00:00Z', { repository: 'image', role: 'targets' }));
    expect(text).toBe('targets expired at 2026-01-01T00:00:00Z\nre-sign with `uptane image targets expires 90d`, then `uptane image sign --role targets --key FILE` and `uptane image push`');
  });

  it('adds them to a Director that refused because of expired metadata', () => {
    const text = describeFailure(new OperatorRequestError('assign: image targets expired at 2026-01-01T00:00:00Z [expired, HTTP 409]', 409, 'expired'));
    expect(text).toMatch(/\nmetadata the Director relies on has expired: `uptane image expiry -w WORKSPACE` \(or --data-dir on its server\) shows which role; for the Image repository's targets, re-sign with `uptane image targets expires 90d`/);
  });

  it('leaves other errors as they are', () => {
    expect(describeFailure(new ExpiredMetadataError('expired somewhere'))).toBe('expired somewhere');
  });
});
