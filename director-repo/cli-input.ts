// Files an operator hands the CLI: lists of VINs (one per line) and CSV lines (RFC 4180 quoting),
// and ECU keys as typed. Read once here, with an error that names the file and line, before anything
// is sent.
import { readFileSync } from 'node:fs';
import { ecuKeyText, ecuPublicKey } from '../shared/core/crypto/ecu-keys.js';
import { UptaneError } from '../shared/core/errors.js';

/** One CSV line split into fields (RFC 4180 quoting: "a,b" and "say ""hi"""), or an error message. */
export function splitCsvLine(line: string): string[] | string {
  const fields: string[] = [];
  let i = 0;
  for (;;) {
    let field = '';
    if (line[i] === '"') {
      i++;
      for (;;) {
        if (i >= line.length) return 'a quoted field is not closed';
        if (line[i] === '"') {
          if (line[i + 1] === '"') {
            field += '"';
            i += 2;
            continue;
          }
          i++;
          break;
        }
        field += line[i++];
      }
      if (i < line.length && line[i] !== ',') return 'text after a closing quote';
    } else {
      const end = line.indexOf(',', i);
      field = line.slice(i, end === -1 ? line.length : end);
      i = end === -1 ? line.length : end;
    }
    fields.push(field.trim());
    if (i >= line.length) return fields;
    i++; // the comma
  }
}

/** One VIN per line; blank lines and # comments skipped; repeats dropped (each ECU gets one assignment). */
export function readVinsFile(file: string): string[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new Error(`cannot read --vins-file ${file}: ${(err as Error).message}`, { cause: err });
  }
  const vins = text
    .replace(/^\uFEFF/, '')
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
  if (vins.length === 0) throw new Error(`--vins-file ${file} lists no VINs: write one per line`);
  return vins;
}

/**
 * The VINs of a CSV file with a `vin` column (any other columns, such as those of the registration
 * CSV, are ignored); blank lines and # comments skipped. The first bad line fails the whole file.
 */
export function readVinsCsv(file: string): string[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new Error(`cannot read --csv ${file}: ${(err as Error).message}`, { cause: err });
  }
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  const skip = (line: string) => line.trim() === '' || line.trimStart().startsWith('#');
  const headerIndex = lines.findIndex((l) => !skip(l));
  const header = headerIndex === -1 ? [] : splitCsvLine(lines[headerIndex]!);
  if (typeof header === 'string') throw new Error(`--csv ${file} line ${headerIndex + 1}: ${header}`);
  const column = header.findIndex((h) => h.toLowerCase() === 'vin');
  if (column === -1) throw new Error(`--csv ${file}: the first line must be a header naming a vin column (e.g. "vin" alone, or the registration CSV's header)`);
  const vins: string[] = [];
  lines.forEach((line, index) => {
    if (index <= headerIndex || skip(line)) return;
    const fields = splitCsvLine(line);
    if (typeof fields === 'string') throw new Error(`--csv ${file} line ${index + 1}: ${fields}`);
    const vin = fields[column] ?? '';
    if (vin === '') throw new Error(`--csv ${file} line ${index + 1}: no VIN in the vin column`);
    vins.push(vin);
  });
  if (vins.length === 0) throw new Error(`--csv ${file} has a header but no rows: add one VIN per line`);
  return vins;
}

/** How an operator writes an ECU's signing key on the command line and in the registration CSV. */
export const ECU_KEY_FORMS =
  "64 lowercase hex characters for an Ed25519 key (`uptane keys show KEYFILE` prints it), or for an ECDSA P-256/P-384 key its SubjectPublicKeyInfo as one line of base64 (the PEM's body lines joined: `grep -v -- ----- ecu.pub.pem | tr -d '\\n'`)";

/**
 * An ECU signing key as typed (`--ecu`, `--public-key`, the CSV's public_key), checked here so a
 * typo fails before anything is sent, and returned in the form the Director stores (ecu-keys.ts).
 * `@FILE` reads a PEM or TUF key JSON file (not in `--ecu` or the CSV, whose separators a path may hold).
 */
export function ecuKeyArgument(text: string, what: string, { allowFile = false } = {}): string {
  let key = text;
  if (allowFile && text.startsWith('@')) {
    try {
      key = readFileSync(text.slice(1), 'utf8');
    } catch (err) {
      throw new Error(`${what}: cannot read ${text.slice(1)}: ${(err as Error).message}`, { cause: err });
    }
  }
  try {
    return ecuKeyText(ecuPublicKey(key));
  } catch (err) {
    if (!(err instanceof UptaneError)) throw err;
    throw new Error(`${what}: ${err.message} [${err.code}]; write ${ECU_KEY_FORMS}${allowFile ? ', or @FILE for a PEM or TUF key JSON file' : ''}`, { cause: err });
  }
}

/** Attributes a vehicle holds at most, and terms a group filter names at most (the Director's bound). */
const MAX_ATTRIBUTES = 32;

/**
 * `NAME=VALUE` pairs (`--attribute model=sedan`, a group's `--filter-attribute`, the CSV's
 * `model=sedan;region=eu`) into {model: 'sedan'}; `option` names where they came from in errors.
 */
export function parseAttributePairs(pairs: readonly string[], option: string): Record<string, string> {
  if (pairs.length > MAX_ATTRIBUTES) throw new Error(`${option}: ${pairs.length} given, at most ${MAX_ATTRIBUTES} (a vehicle has at most ${MAX_ATTRIBUTES} attributes)`);
  const attributes: Record<string, string> = {};
  for (const pair of pairs) {
    const at = pair.indexOf('=');
    if (at <= 0) throw new Error(`${option} ${pair}: write NAME=VALUE, e.g. model=sedan-2026 or region=eu`);
    const name = pair.slice(0, at);
    if (Object.hasOwn(attributes, name)) throw new Error(`${option}: ${name} is given twice`);
    attributes[name] = pair.slice(at + 1);
  }
  return attributes;
}
