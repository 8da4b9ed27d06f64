import { screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { Route, Routes } from 'react-router-dom';
import { saveSession } from '../auth/session';
import { setLanguage } from '../i18n';
import { fakeServer, json, renderAt } from '../test/render';
import FilesPage from './FilesPage';
import { fileQuery } from './query';

// eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- jsdom lacks it
globalThis.ResizeObserver ??= class {
  observe(): void {}
  unobserve(): void {}
  disconnect(): void {}
};

const ADMIN = { role: 'admin', account_id: 1, user_id: 1, employee_id: null };
const empty = { items: [], total: 0, limit: 1000, offset: 0 };
const NOT_AUDIO = {
  error_id: 'validation_failed',
  message: '(body): не звуковой файл / not an audio file',
  errors: [{ field: '(body)', rule: 'не звуковой файл / not an audio file', error_id: 'audio.not_audio' }],
  usages: [],
};

function server(content: () => Response) {
  const deleted: string[] = [];
  const seen = fakeServer({
    'GET /api/v1/auth/me': () => json(ADMIN),
    'GET /api/v1/employees': () => json(empty),
    'GET /api/v1/numbers': () => json(empty),
    'GET /api/v1/tags': () => json(empty),
    'GET /api/v1/files': () => json({ items: [], total: 0, limit: 50, offset: 0 }),
    'POST /api/v1/files': () =>
      json({ id: 9, name: 'Приветствие', kind: 'sound', text: '', content_type: '', size_bytes: 0, duration_seconds: 0 }, 201),
    'PUT /api/v1/files/9/content': content,
    'DELETE /api/v1/files/9': (request) => {
      deleted.push(request.url);
      return new Response(null, { status: 204 });
    },
  });
  return { seen, deleted };
}

async function upload(name: string, bytes: string): Promise<HTMLElement> {
  renderAt(
    <Routes>
      <Route path="/files" element={<FilesPage />} />
    </Routes>,
    '/files?kind=sound',
  );
  await userEvent.click(await screen.findByRole('button', { name: /Загрузить файл/ }));
  const dialog = await screen.findByRole('dialog');
  const input = dialog.querySelector('input[type=file]');
  if (!(input instanceof HTMLInputElement)) throw new Error('no file input');
  // the picker offers audio first, but a user may choose any file
  await userEvent.setup({ applyAccept: false }).upload(input, new File([bytes], name, { type: 'text/plain' }));
  await userEvent.click(within(dialog).getByRole('button', { name: 'Загрузить' }));
  return dialog;
}

beforeEach(async () => {
  saveSession({ accessToken: 'a', refreshToken: 'r', login: 'admin', accountId: null });
  await setLanguage('ru');
});

describe('file base', () => {
  it('reads its tab and filters from the address', () => {
    expect(fileQuery(new URLSearchParams('kind=recording&from=2026-03-01&to=2026-03-01&caller=+7 916&employee=4&page=2'))).toEqual({
      kind: 'recording',
      from: '2026-03-01T00:00:00',
      to: '2026-03-02T00:00:00',
      caller: '7916',
      employee_id: 4,
      limit: 50,
      offset: 50,
    });
    expect(fileQuery(new URLSearchParams('kind=other&employee=x'))).toEqual({ kind: 'voicemail', limit: 50, offset: 0 });
  });

  it('says clearly that a file is not audio, and keeps no empty row of it', async () => {
    const { deleted } = server(() => json(NOT_AUDIO, 422));
    const dialog = await upload('notes.txt', 'hello');
    expect(await within(dialog).findByTestId('upload-error')).toHaveTextContent(
      'Это не звуковой файл (или формат не поддерживается). Загрузите WAV, MP3, OGG или FLAC.',
    );
    await waitFor(() => expect(deleted).toHaveLength(1));
  });

  it('says clearly that a file is too large (413)', async () => {
    server(() =>
      json({ error_id: 'audio.too_large', message: 'файл больше 50 МБ / the file is larger than 50 MB', errors: [], usages: [] }, 413),
    );
    await setLanguage('en');
    renderAt(
      <Routes>
        <Route path="/files" element={<FilesPage />} />
      </Routes>,
      '/files?kind=sound',
    );
    await userEvent.click(await screen.findByRole('button', { name: /Upload a file/ }));
    const dialog = await screen.findByRole('dialog');
    const input = dialog.querySelector('input[type=file]');
    if (!(input instanceof HTMLInputElement)) throw new Error('no file input');
    await userEvent.upload(input, new File(['x'], 'huge.wav', { type: 'audio/wav' }));
    await userEvent.click(within(dialog).getByRole('button', { name: 'Upload' }));
    expect(await within(dialog).findByTestId('upload-error')).toHaveTextContent('The file is too large: 50 MB at most.');
  });
});
