// The first things a new user types (issue 20, finding 9): `uptane --version`, and a mistyped
// command or option answered with the nearest real one. Runs the built binary (dist/).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { editDistance, nearest, optionSuggestions } from '../../shared/cli/suggestions.js';
import { REPO_ROOT, runCli } from '../support/cli-runner.js';

describe('suggestions', () => {
  it('measures edits, a swap of neighbours as one', () => {
    expect(editDistance('json', 'json')).toBe(0);
    expect(editDistance('jsn', 'json')).toBe(1);
    expect(editDistance('jsno', 'json')).toBe(1);
    expect(editDistance('kitten', 'sitting')).toBe(3);
  });

  it('offers the nearest candidate only when it is near', () => {
    expect(nearest('worksapce', ['workspace', 'role', 'json'])).toBe('workspace');
    expect(nearest('x', ['json', 'role'])).toBeUndefined();
    expect(nearest('banana', ['json', 'role'])).toBeUndefined();
  });

  it('suggests only for words given as options', () => {
    expect(optionSuggestions('Unknown arguments: jsn, statu', ['json', 'status'], ['image', 'statu', '--jsn'])).toEqual(['--jsn: did you mean --json?']);
    expect(optionSuggestions('Missing required argument: role', ['role'], ['--rle'])).toEqual([]);
  });
});

describe('uptane', () => {
  it('--version prints the package version', async () => {
    const { version } = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string };
    const result = await runCli(['--version']);
    expect(result.status).toBe(0);
    expect(result.stdout.trim()).toBe(version);
  });

  it.each([
    [['imag'], /did you mean image\?/],
    [['image', 'statu'], /did you mean status\?/],
    [['director', 'vehicles'], /did you mean vehicle\?/],
  ])('a mistyped command %j: the nearest command, exit 1', async (args, suggestion) => {
    const result = await runCli(args);
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/^error: Unknown argument/);
    expect(result.stderr).toMatch(suggestion);
    expect(result.stderr).toMatch(/run with --help for usage/);
  });

  it('a mistyped option: the nearest option of that command', async () => {
    const result = await runCli(['image', 'status', '--jsn', '--chek', '--workspace', '/nonexistent']);
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/--jsn: did you mean --json\?/);
    expect(result.stderr).toMatch(/--chek: did you mean --check\?/);
  });
});
