// Groups: the list with member counts, and a form for a dynamic group (attribute, hardware id or
// installed-image filters) or a static one (a list of VINs).
import { useState } from 'preact/hooks';
import { api } from '../api.js';
import { Problem, Section, useCanWrite, When } from '../common.js';
import { useApi } from '../use-api.js';
import type { GroupCreated, GroupList, GroupSummary } from '../../../director-repo/api/operator-api.js';

function describe(filter: GroupSummary['filter']): string {
  if (filter === null) return '';
  const terms = Object.entries(filter.attributes ?? {}).map(([k, v]) => `${k}=${v}`);
  if (filter.hardwareId !== undefined) terms.push(`hardware ${filter.hardwareId}`);
  if (filter.installedImage !== undefined) terms.push(`installed ${filter.installedImage}`);
  return terms.join(', ');
}

export function Groups() {
  const list = useApi<GroupList>('/api/v1/groups');
  return (
    <>
      <h1>Groups</h1>
      <Section title="All groups">
        <Problem error={list.error} />
        {list.data !== undefined && (
          <table data-testid="groups">
            <thead>
              <tr>
                <th>Name</th>
                <th>Kind</th>
                <th>Filter</th>
                <th>Members</th>
                <th>Created</th>
              </tr>
            </thead>
            <tbody>
              {list.data.groups.map((g) => (
                <tr key={g.name}>
                  <td>{g.name}</td>
                  <td>{g.kind}</td>
                  <td>{describe(g.filter)}</td>
                  <td>{g.members ?? <span class="error">{g.problem ?? 'unknown'}</span>}</td>
                  <td>
                    <When at={g.createdAt} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </Section>
      <NewGroup onCreated={list.reload} />
    </>
  );
}

function NewGroup({ onCreated }: { onCreated: () => void }) {
  const canWrite = useCanWrite();
  const [form, setForm] = useState({ name: '', kind: 'dynamic', attributes: '', hardwareId: '', installedImage: '', vins: '' });
  const [error, setError] = useState<Error | undefined>(undefined);
  const [done, setDone] = useState('');
  if (!canWrite) return null;
  const submit = async (e: Event) => {
    e.preventDefault();
    setError(undefined);
    setDone('');
    try {
      let body: unknown;
      if (form.kind === 'static') {
        body = { name: form.name.trim(), vins: form.vins.split(/[\s,]+/).filter((v) => v !== '') };
      } else {
        const attributes: Record<string, string> = {};
        for (const line of form.attributes.split(/[\n,]+/).map((l) => l.trim()).filter((l) => l !== '')) {
          const at = line.indexOf('=');
          if (at <= 0) throw new Error(`attribute "${line}": write it as name=value`);
          attributes[line.slice(0, at).trim()] = line.slice(at + 1).trim();
        }
        const filter = {
          ...(Object.keys(attributes).length === 0 ? {} : { attributes }),
          ...(form.hardwareId.trim() === '' ? {} : { hardwareId: form.hardwareId.trim() }),
          ...(form.installedImage.trim() === '' ? {} : { installedImage: form.installedImage.trim() }),
        };
        body = { name: form.name.trim(), filter };
      }
      const created = await api<GroupCreated>('POST', '/api/v1/groups', body);
      setDone(`Group ${created.name} created with ${created.members} vehicle${created.members === 1 ? '' : 's'}.`);
      setForm({ ...form, name: '' });
      onCreated();
    } catch (err) {
      setError(err as Error);
    }
  };
  const input = (name: keyof typeof form, label: string, max = 128) => (
    <label>
      {label}
      <input name={name} value={form[name]} maxLength={max} onInput={(e) => setForm({ ...form, [name]: e.currentTarget.value })} />
    </label>
  );
  return (
    <Section title="New group">
      <form onSubmit={submit} data-testid="new-group">
        {input('name', 'Name', 64)}
        <label>
          Members
          <select name="kind" value={form.kind} onChange={(e) => setForm({ ...form, kind: e.currentTarget.value })}>
            <option value="dynamic">every vehicle matching a filter</option>
            <option value="static">a list of VINs</option>
          </select>
        </label>
        {form.kind === 'dynamic' ? (
          <>
            {input('attributes', 'Attributes (name=value, comma-separated)', 1024)}
            {input('hardwareId', 'Has an ECU with hardware id', 64)}
            {input('installedImage', 'Has installed image', 256)}
          </>
        ) : (
          <label>
            VINs (one per line)
            <textarea name="vins" rows={4} maxLength={100_000} value={form.vins} onInput={(e) => setForm({ ...form, vins: e.currentTarget.value })} />
          </label>
        )}
        <button type="submit" data-writes="true">
          Create group
        </button>
        <Problem error={error} />
        {done !== '' && <p class="ok">{done}</p>}
      </form>
    </Section>
  );
}
