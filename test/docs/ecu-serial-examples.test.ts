// ECU serials are unique across the fleet (docs/decisions.md "ECU identity"), so no example may give
// two vehicles the same serial: an operator copying the README or a --help example for a second
// vehicle would otherwise be refused with 409 (issue 20, finding 1). This reads every registration
// the README and the registering commands' help texts show (--vin with --ecu, provision's --primary
// and --secondary, CSV rows) and fails when one serial appears under two VINs.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const SOURCES = ['README.md', 'director-repo/cli.ts', 'vehicle/provision-cli.ts', 'vehicle/register-cli.ts', 'director-repo/campaign-cli.ts'];

/** Every (source, VIN, serial) an example registers. */
function exampleRegistrations(source: string, text: string): Array<{ source: string; vin: string; serial: string }> {
  const found: Array<{ source: string; vin: string; serial: string }> = [];
  // Shell continuations joined; string literals' "\n" are line breaks of the help text they print.
  const lines = text.replace(/\\\n\s*/g, ' ').split(/\n|\\n/);
  for (const line of lines) {
    const vin = /--vin\s+([A-Za-z0-9_-]+)/.exec(line)?.[1];
    if (vin !== undefined) {
      for (const m of line.matchAll(/--(?:ecu|primary|secondary)\s+([A-Za-z0-9._-]+):/g)) found.push({ source, vin, serial: m[1]! });
    }
    // A registration CSV row: vin,ecu_serial,hardware_id,public_key,...
    const row = /^\s*"?([A-Z0-9][A-Za-z0-9_-]{2,})"?,"?([A-Za-z0-9._:-]+)"?,"?([A-Za-z0-9._:-]+)"?,"?[0-9a-fA-F.]{8,}/.exec(line);
    if (row !== null && row[1] !== 'vin') found.push({ source, vin: row[1]!, serial: row[2]! });
  }
  return found;
}

/** Serials given to more than one VIN, each with the two places. */
function clashes(all: ReadonlyArray<{ source: string; vin: string; serial: string }>): string[] {
  const owner = new Map<string, { vin: string; source: string }>();
  const found: string[] = [];
  for (const r of all) {
    const first = owner.get(r.serial);
    if (first === undefined) owner.set(r.serial, r);
    else if (first.vin !== r.vin) found.push(`${r.serial}: ${first.vin} (${first.source}) and ${r.vin} (${r.source})`);
  }
  return found;
}

describe('ECU serials in the examples', () => {
  const all = SOURCES.flatMap((file) => exampleRegistrations(file, readFileSync(`${ROOT}/${file}`, 'utf8')));

  it('finds the examples it checks (README walkthroughs, register and provision --help, the CSV)', () => {
    const vins = new Set(all.map((r) => r.vin));
    for (const vin of ['VIN0001', 'VIN0002', 'WVW123', 'WVW124']) expect(vins).toContain(vin);
    expect(all.filter((r) => r.source === 'director-repo/cli.ts').length).toBeGreaterThanOrEqual(4);
    expect(all.filter((r) => r.source === 'vehicle/provision-cli.ts').length).toBeGreaterThanOrEqual(3);
  });

  it('never gives two vehicles the same serial', () => {
    expect(clashes(all)).toEqual([]);
  });

  it('would catch the mistake it guards against', () => {
    const copied = exampleRegistrations('x', 'uptane vehicle provision --vin V1 --primary tcu-1:tcu-a\nuptane vehicle provision --vin V2 --primary tcu-1:tcu-a');
    expect(clashes(copied)).toEqual(['tcu-1: V1 (x) and V2 (x)']);
    const csv = exampleRegistrations('y', 'vin,ecu_serial,hardware_id,public_key,primary\nWVW1,tcu-1,tcu-a,6a1f...c2,yes\nWVW2,tcu-1,tcu-a,0c5d...71,yes');
    expect(clashes(csv)).toEqual(['tcu-1: WVW1 (y) and WVW2 (y)']);
  });
});
