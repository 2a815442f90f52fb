// The demo is the main job: it must run start to finish and narrate every step.
import { rmSync } from 'node:fs';
import { runDemo } from '../../sim/demo.js';

it('runs the end-to-end demo: deferral while driving, installs, a rollback, and two attacks rejected', async () => {
  const lines: string[] = [];
  const result = await runDemo({ print: (line) => lines.push(line) });
  rmSync(result.dataDir, { recursive: true, force: true });
  const text = lines.join('\n');
  expect(text).not.toContain('DEMO FAILED');
  expect(result.ok).toBe(true);
  expect(text).toContain('deferred while driving');
  expect(text).toContain('rolled back');
  expect(text).toMatch(/refused the image \(hash_mismatch\)/);
  expect(text).toMatch(/refused the replayed metadata \(rollback\)/);
}, 120_000);
