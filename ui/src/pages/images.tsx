// Images the Image repository signs, with the hardware ids and release counters its targets give,
// a page at a time by file name.
import { useState } from 'preact/hooks';
import { query } from '../api.js';
import { Problem, Section, short } from '../common.js';
import { useApi } from '../use-api.js';
import type { ImageList } from '../../../director-repo/api/operator-api.js';

const PAGE = 100;

export function Images() {
  const [after, setAfter] = useState<string[]>(['']);
  const list = useApi<ImageList>(`/api/v1/images${query({ limit: PAGE, after: after[after.length - 1] })}`);
  const images = list.data?.images ?? [];
  return (
    <>
      <h1>Images</h1>
      <Section title={list.data === undefined ? 'Images' : `${list.data.total} image${list.data.total === 1 ? '' : 's'}`}>
        <Problem error={list.error} />
        {list.data !== undefined && (
          <table data-testid="images">
            <thead>
              <tr>
                <th>File</th>
                <th>Hardware ids</th>
                <th>Release counter</th>
                <th title="the lowest ECU security profile the Image repository allows to install it">Minimum profile</th>
                <th>Length</th>
                <th>SHA-256</th>
              </tr>
            </thead>
            <tbody>
              {list.data.images.map((i) => (
                <tr key={i.filename}>
                  <td>{i.filename}</td>
                  <td>{i.hardwareIds.join(', ')}</td>
                  <td>{i.releaseCounter ?? ''}</td>
                  <td>{i.minimumSecurityProfile ?? <span class="muted">any</span>}</td>
                  <td>{i.length.toLocaleString('en')} B</td>
                  <td title={i.sha256 ?? ''}>
                    <code>{short(i.sha256, 16)}</code>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
        <div class="pager">
          <button type="button" disabled={after.length === 1} onClick={() => setAfter(after.slice(0, -1))}>
            Previous
          </button>
          <button type="button" disabled={images.length < PAGE} onClick={() => setAfter([...after, images[images.length - 1]!.filename])}>
            Next
          </button>
        </div>
      </Section>
    </>
  );
}
