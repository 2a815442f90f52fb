// An image manifest: the images of a release listed in one file, for `targets add --from-manifest`,
// so a build system stages thousands of images in one edit instead of one process per image.
//
// Format: JSON Lines (UTF-8), one image per line; blank lines are skipped. JSON Lines rather than one
// JSON document so that every refusal names the line a person (or a build script) has to fix, and
// rather than CSV because custom fields are JSON values of any shape. Each line is an object:
//
//   {"path": "build/ecm.bin", "name": "engine/ecm-2.1.bin", "hardwareIds": ["ecm-x1"], "releaseCounter": 21, "custom": {"build": "2026.12.1"}}
//
//   path            required; a relative path is taken from the manifest's folder, not the current one
//   name            optional target name; default: the file's name
//   hardwareIds     required, at least one
//   releaseCounter  required, a whole number >= 0
//   custom          optional object of free custom fields (not hardwareIds, releaseCounter, ecuIdentifiers)
//
// Any other key is refused (a misspelt "releaseCountr" must not silently stage an image without it).
// Only the shape is checked here; names, fields, delegation limits and the files themselves are
// checked by Workspace.addImages, which reports them with the same line (ImageToAdd.origin).
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, join } from 'node:path';
import { ImageManifestError } from '../core/errors.js';
import type { ImageFields } from './targets-edits.js';

/** Where an image of a batch was listed, so a refusal can name the line. */
export interface ImageOrigin {
  readonly file: string;
  readonly line: number;
}

export interface ManifestImage {
  readonly path: string;
  readonly name?: string;
  readonly fields: ImageFields;
  readonly origin: ImageOrigin;
}

const KEYS = new Set(['path', 'name', 'hardwareIds', 'releaseCounter', 'custom']);

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Parses manifest text; `file` names it in errors and anchors relative paths. */
export function parseImageManifest(text: string, file: string): ManifestImage[] {
  const images: ManifestImage[] = [];
  const lines = text.split('\n');
  for (let index = 0; index < lines.length; index++) {
    const line = index + 1;
    const raw = lines[index]!.replace(/\r$/, '');
    if (raw.trim() === '') continue;
    const bad = (what: string, cause?: unknown): never => {
      throw new ImageManifestError(`${file} line ${line}: ${what}`, file, line, cause === undefined ? {} : { cause });
    };
    let value: unknown;
    try {
      value = JSON.parse(raw);
    } catch (err) {
      return bad(`not a JSON object (${(err as Error).message}); write one image per line as {"path": ..., "hardwareIds": [...], "releaseCounter": N}`, err);
    }
    if (!isRecord(value)) return bad('must be a JSON object with path, hardwareIds and releaseCounter');
    for (const key of Object.keys(value)) {
      if (!KEYS.has(key)) bad(`unknown key ${JSON.stringify(key)} (allowed: ${[...KEYS].join(', ')})`);
    }
    const { path, name, hardwareIds, releaseCounter, custom } = value;
    if (typeof path !== 'string' || path === '') bad('path must be a non-empty string');
    if (name !== undefined && (typeof name !== 'string' || name === '')) bad('name, when given, must be a non-empty string');
    if (!Array.isArray(hardwareIds) || hardwareIds.length === 0 || !hardwareIds.every((id) => typeof id === 'string')) {
      bad('hardwareIds must be a non-empty array of strings');
    }
    if (typeof releaseCounter !== 'number') bad('releaseCounter must be a whole number >= 0');
    if (custom !== undefined && !isRecord(custom)) bad('custom, when given, must be a JSON object');
    const pathText = path as string;
    images.push({
      path: isAbsolute(pathText) ? pathText : join(dirname(file), pathText),
      ...(name !== undefined ? { name: name as string } : {}),
      fields: {
        hardwareIds: hardwareIds as string[],
        releaseCounter: releaseCounter as number,
        ...(custom !== undefined ? { custom: custom as Record<string, unknown> } : {}),
      },
      origin: { file, line },
    });
  }
  if (images.length === 0) throw new ImageManifestError(`${file} lists no images (one JSON object per line)`, file, 0);
  return images;
}

export function readImageManifest(file: string): ManifestImage[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ImageManifestError(`cannot read image manifest ${file}: ${(err as Error).message}`, file, 0, { cause: err });
  }
  return parseImageManifest(text, file);
}
