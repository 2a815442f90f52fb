// Creating a campaign: group, images, stages (cumulative share or count, soak time, schedule,
// success threshold) and halt rules, as POST /api/v1/campaigns takes them (operator-input.ts
// parseCampaign); a dry run shows how many vehicles each stage takes before anything is created.
import { useState } from 'preact/hooks';
import { api, enc } from '../api.js';
import { navigate, Problem, Section, useCanWrite } from '../common.js';
import { useApi } from '../use-api.js';
import type { CampaignDryRun, CampaignStatus, GroupList, ImageList } from '../../../director-repo/api/operator-api.js';

interface StageRow {
  kind: 'share' | 'count';
  value: string;
  soakMinutes: string;
  startAfterMinutes: string;
  successPercent: string;
}

const emptyStage = (value: string): StageRow => ({ kind: 'share', value, soakMinutes: '', startAfterMinutes: '', successPercent: '' });

const MINUTE = 60_000;

function alertOnce(message: string): void {
  window.alert(message);
}

function numberOf(text: string, what: string): number | undefined {
  if (text.trim() === '') return undefined;
  const value = Number(text);
  if (!Number.isFinite(value) || value < 0) throw new Error(`${what}: "${text}" is not a number`);
  return value;
}

export function NewCampaign() {
  const canWrite = useCanWrite();
  const groups = useApi<GroupList>('/api/v1/groups');
  const images = useApi<ImageList>('/api/v1/images?limit=200');
  const [name, setName] = useState('');
  const [group, setGroup] = useState('');
  const [targets, setTargets] = useState([{ hardwareId: '', image: '' }]);
  const [stages, setStages] = useState<StageRow[]>([emptyStage('10'), emptyStage('100')]);
  const [halt, setHalt] = useState({ maxFailureRate: '20', minSample: '5', maxFailures: '', onAttack: true });
  const [preview, setPreview] = useState<CampaignDryRun | undefined>(undefined);
  const [error, setError] = useState<Error | undefined>(undefined);
  const [busy, setBusy] = useState(false);
  if (!canWrite) return <p class="muted">Your scope is read-only: campaigns cannot be created.</p>;

  const body = () => ({
    name: name.trim(),
    group,
    images: targets.map((t) => ({ hardwareId: t.hardwareId.trim(), image: t.image.trim() })),
    stages: stages.map((s, i) => {
      const value = numberOf(s.value, `stage ${i + 1}`);
      if (value === undefined) throw new Error(`stage ${i + 1}: give a percentage or a count`);
      const soak = numberOf(s.soakMinutes, `stage ${i + 1} soak`);
      const after = numberOf(s.startAfterMinutes, `stage ${i + 1} start after`);
      const success = numberOf(s.successPercent, `stage ${i + 1} success threshold`);
      return {
        ...(s.kind === 'share' ? { share: value / 100 } : { count: Math.round(value) }),
        ...(soak === undefined ? {} : { minSoakMs: Math.round(soak * MINUTE) }),
        ...(after === undefined ? {} : { startAfterMs: Math.round(after * MINUTE) }),
        ...(success === undefined ? {} : { successThreshold: success / 100 }),
      };
    }),
    halt: {
      ...(halt.maxFailureRate === '' ? {} : { maxFailureRate: numberOf(halt.maxFailureRate, 'failure rate')! / 100 }),
      ...(halt.minSample === '' ? {} : { minSample: Math.round(numberOf(halt.minSample, 'minimum sample')!) }),
      ...(halt.maxFailures === '' ? {} : { maxFailures: Math.round(numberOf(halt.maxFailures, 'maximum failures')!) }),
      onAttack: halt.onAttack,
    },
  });

  const run = async (dryRun: boolean) => {
    setBusy(true);
    setError(undefined);
    try {
      if (dryRun) {
        const answer = await api<CampaignDryRun | CampaignStatus>('POST', '/api/v1/campaigns', { ...body(), dryRun: true });
        // A Director from before dry runs ignores the flag and creates the campaign: say so, and show it.
        if (!('dryRun' in answer)) {
          alertOnce(`This Director does not support dry runs: it created campaign ${answer.name} (as a draft, not started).`);
          navigate(`/campaigns/${enc(answer.name)}`);
          return;
        }
        setPreview(answer);
      }
      else {
        const created = await api<CampaignStatus>('POST', '/api/v1/campaigns', body());
        navigate(`/campaigns/${enc(created.name)}`);
      }
    } catch (err) {
      setError(err as Error);
    } finally {
      setBusy(false);
    }
  };
  const setStage = (i: number, change: Partial<StageRow>) => {
    setPreview(undefined);
    setStages(stages.map((s, j) => (j === i ? { ...s, ...change } : s)));
  };
  const imageChoices = images.data?.images ?? [];
  return (
    <>
      <h1>New campaign</h1>
      <form
        data-testid="new-campaign"
        onSubmit={(e) => {
          e.preventDefault();
          void run(false);
        }}
      >
        <Section title="What and to whom">
          <label>
            Name
            <input name="name" value={name} maxLength={64} required onInput={(e) => setName(e.currentTarget.value)} />
          </label>
          <label>
            Group
            <select
              name="group"
              value={group}
              required
              onChange={(e) => {
                setPreview(undefined);
                setGroup(e.currentTarget.value);
              }}
            >
              <option value="">choose a group</option>
              {(groups.data?.groups ?? []).map((g) => (
                <option key={g.name} value={g.name}>
                  {g.name} ({g.members ?? '?'} vehicles)
                </option>
              ))}
            </select>
          </label>
          <Problem error={groups.error} />
          {targets.map((t, i) => (
            <div class="row" key={i}>
              <label>
                Image
                <input
                  name={`image-${i}`}
                  list="image-choices"
                  value={t.image}
                  maxLength={256}
                  onInput={(e) => {
                    const value = e.currentTarget.value;
                    const image = imageChoices.find((c) => c.filename === value);
                    setPreview(undefined);
                    setTargets(targets.map((x, j) => (j === i ? { image: value, hardwareId: x.hardwareId || (image?.hardwareIds[0] ?? '') } : x)));
                  }}
                />
              </label>
              <label>
                For hardware id
                <input name={`hardware-${i}`} value={t.hardwareId} maxLength={64} onInput={(e) => setTargets(targets.map((x, j) => (j === i ? { ...x, hardwareId: e.currentTarget.value } : x)))} />
              </label>
              {targets.length > 1 && (
                <button type="button" class="link" onClick={() => setTargets(targets.filter((_, j) => j !== i))}>
                  remove
                </button>
              )}
            </div>
          ))}
          <datalist id="image-choices">
            {imageChoices.map((c) => (
              <option key={c.filename} value={c.filename}>
                release {c.releaseCounter ?? '?'}, {c.hardwareIds.join(', ')}
              </option>
            ))}
          </datalist>
          <Problem error={images.error} />
          <button type="button" class="link" onClick={() => setTargets([...targets, { hardwareId: '', image: '' }])}>
            + another image
          </button>
        </Section>
        <Section title="Stages (cumulative)">
          <table class="editor" data-testid="stage-editor">
            <thead>
              <tr>
                <th>Stage</th>
                <th>Size</th>
                <th />
                <th>Soak (min)</th>
                <th>Start after (min)</th>
                <th>Success needed (%)</th>
                <th>Dry run</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {stages.map((s, i) => (
                <tr key={i}>
                  <td>{i + 1}</td>
                  <td>
                    <input name={`stage-${i}-value`} class="narrow" inputMode="decimal" value={s.value} onInput={(e) => setStage(i, { value: e.currentTarget.value })} />
                  </td>
                  <td>
                    <select value={s.kind} onChange={(e) => setStage(i, { kind: e.currentTarget.value as StageRow['kind'] })}>
                      <option value="share">% of the group</option>
                      <option value="count">vehicles</option>
                    </select>
                  </td>
                  <td>
                    <input name={`stage-${i}-soak`} class="narrow" value={s.soakMinutes} onInput={(e) => setStage(i, { soakMinutes: e.currentTarget.value })} />
                  </td>
                  <td>
                    <input class="narrow" value={s.startAfterMinutes} onInput={(e) => setStage(i, { startAfterMinutes: e.currentTarget.value })} />
                  </td>
                  <td>
                    <input class="narrow" placeholder="90" value={s.successPercent} onInput={(e) => setStage(i, { successPercent: e.currentTarget.value })} />
                  </td>
                  <td data-testid={`preview-${i + 1}`}>{preview?.stages.find((p) => p.index === i + 1)?.vehicles ?? ''}</td>
                  <td>
                    {stages.length > 1 && (
                      <button type="button" class="link" onClick={() => setStages(stages.filter((_, j) => j !== i))}>
                        remove
                      </button>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          <button type="button" class="link" disabled={stages.length >= 20} onClick={() => setStages([...stages, emptyStage('100')])}>
            + stage
          </button>
        </Section>
        <Section title="Halt when">
          <div class="row">
            <label>
              Failure rate above (%)
              <input class="narrow" value={halt.maxFailureRate} onInput={(e) => setHalt({ ...halt, maxFailureRate: e.currentTarget.value })} />
            </label>
            <label>
              after at least (installs)
              <input class="narrow" value={halt.minSample} onInput={(e) => setHalt({ ...halt, minSample: e.currentTarget.value })} />
            </label>
            <label>
              or failures reach
              <input class="narrow" value={halt.maxFailures} onInput={(e) => setHalt({ ...halt, maxFailures: e.currentTarget.value })} />
            </label>
            <label class="check">
              <input type="checkbox" checked={halt.onAttack} onChange={(e) => setHalt({ ...halt, onAttack: e.currentTarget.checked })} /> a vehicle reports an attack
            </label>
          </div>
        </Section>
        {preview !== undefined && (
          <p data-testid="dry-run">
            Dry run: {preview.stages.map((p) => `stage ${p.index}: ${p.vehicles} vehicles`).join(', ')}
            {preview.skipped !== undefined && Object.keys(preview.skipped).length > 0 && `; skipped ${Object.entries(preview.skipped).map(([why, n]) => `${n} (${why})`).join(', ')}`}
            {preview.skippedChecked === false && '; vehicles to skip not counted (the group is too large to check each one)'}
          </p>
        )}
        <Problem error={error} />
        <div class="actions">
          <button type="button" disabled={busy} onClick={() => run(true)} data-testid="dry-run-button">
            Dry run
          </button>
          <button type="submit" disabled={busy} data-writes="true">
            Create campaign
          </button>
        </div>
      </form>
    </>
  );
}
