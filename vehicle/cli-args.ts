// Checks of `uptane vehicle` arguments that more than one command shares, each failing with what to write instead.
import { readFileSync } from 'node:fs';

/** An http(s) URL without trailing slashes. */
export function checkHttpUrl(value: string, option: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new Error(`${option} ${JSON.stringify(value)} is not a URL: write it like http://127.0.0.1:8082`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(`${option} ${value}: use an http:// or https:// URL`);
  return value.replace(/\/+$/, '');
}

/** Reads a file an option names, saying which option and why it could not be read. */
export function readFileOrExplain(path: string, option: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new Error(`${option} ${path}: cannot read it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, { cause: err });
  }
}
