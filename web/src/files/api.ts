import { keepPreviousData, useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import type { TFunction } from 'i18next';
import { api, authorizedFetch, type Schemas } from '../api/client';
import { ApiError, NetworkError, unwrap } from '../api/errors';
import type { paths } from '../api/schema';

export type AudioFile = Schemas['AudioFileOut'];
export type FileQuery = NonNullable<paths['/api/v1/files']['get']['parameters']['query']>;
export type FileKind = NonNullable<FileQuery['kind']>;
export type Variant = 'original' | 'converted';

export function useFiles(query: FileQuery) {
  return useQuery({
    queryKey: ['files', 'list', query],
    queryFn: () => unwrap(api.GET('/api/v1/files', { params: { query } })),
    placeholderData: keepPreviousData,
  });
}

/**
 * A short-lived link to a file's audio (POST /files/{id}/link): a media element streams it with
 * range requests of its own and cannot send the bearer token, so the link stands for it.
 */
export async function fileLink(id: number, variant: Variant): Promise<string> {
  const link = await unwrap(
    api.POST('/api/v1/files/{entity_id}/link', { params: { path: { entity_id: id }, query: { variant } } }),
  );
  return new URL(link.url, globalThis.location.origin).toString();
}

export function useDeleteFile() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (id: number) =>
      unwrap(api.DELETE('/api/v1/files/{entity_id}', { params: { path: { entity_id: id } } })),
    onSuccess: () => void client.invalidateQueries({ queryKey: ['files'] }),
  });
}

/** PUT the raw audio (any type; the API converts it once): an ApiError when it is refused. */
async function putContent(id: number, file: File): Promise<void> {
  const url = `${globalThis.location.origin}/api/v1/files/${id}/content`;
  const request = new Request(url, {
    method: 'PUT',
    body: file,
    headers: { 'Content-Type': file.type || 'application/octet-stream' },
  });
  let response: Response;
  try {
    response = await authorizedFetch(request);
  } catch (error) {
    throw new NetworkError(error instanceof Error ? error.message : String(error));
  }
  if (!response.ok) throw new ApiError(response.status, await response.json().catch(() => null));
}

/** A sound file (FILE-1 «Звуковые файлы»): its row, then its audio; a refused audio leaves no row. */
export function useUploadFile() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: async ({ name, file }: { name: string; file: File }) => {
      const created = await unwrap(api.POST('/api/v1/files', { body: { name, kind: 'sound', text: '' } }));
      try {
        await putContent(created.id, file);
      } catch (error) {
        await api.DELETE('/api/v1/files/{entity_id}', { params: { path: { entity_id: created.id } } }).catch(
          () => undefined,
        );
        throw error;
      }
      return created;
    },
    onSettled: () => void client.invalidateQueries({ queryKey: ['files'] }),
  });
}

export type PhoneRecording = Schemas['PhoneRecording'];
export type RecordingRequest = Schemas['RecordingRequest'];

/** How often a recording by phone is asked about while it is pending or calling (ms). */
export const RECORDING_POLL = 1000;

/** FILE-1 «Записать сообщение»: the PBX calls the phone; answered at once with the request. */
export function useStartRecording() {
  return useMutation({
    mutationFn: (body: RecordingRequest) => unwrap(api.POST('/api/v1/files/recordings-by-phone', { body })),
  });
}

/** A recording by phone, asked again every second until it is recorded or failed. */
export function useRecording(id: number | null) {
  return useQuery({
    queryKey: ['files', 'recording', id],
    enabled: id !== null,
    queryFn: () =>
      unwrap(
        api.GET('/api/v1/files/recordings-by-phone/{recording_id}', {
          params: { path: { recording_id: id ?? 0 } },
        }),
      ),
    refetchInterval: (query) => {
      const status = query.state.data?.status;
      return status === 'recorded' || status === 'failed' ? false : RECORDING_POLL;
    },
  });
}

const CYRILLIC = /[а-яё]/i;

/** The half of an API message ("русский / english") in the user's language. */
export function messageIn(message: string, language: string): string {
  const halves = message.split(' / ');
  if (halves.length < 2) return message;
  const russian = halves.find((half) => CYRILLIC.test(half));
  const english = halves.find((half) => !CYRILLIC.test(half));
  return (language === 'ru' ? russian : english) ?? message;
}

/** Why an upload was refused, in the user's language: not audio, too large (413), too long… */
export function uploadError(error: unknown, t: TFunction, language: string): string {
  if (!(error instanceof ApiError)) return t('errors.network');
  if (error.status === 413) return t('files.errors.too_large');
  const body = error.body;
  const ids = [body?.error_id, ...(body?.errors ?? []).map((item) => item.error_id)];
  for (const id of ids) {
    const known = id?.startsWith('audio.') ? id.slice('audio.'.length) : null;
    if (known !== null && ['not_audio', 'too_large', 'too_long'].includes(known)) return t(`files.errors.${known}`);
  }
  const rule = body?.errors[0]?.rule;
  if (rule?.includes('empty')) return t('files.errors.empty');
  if (rule) return messageIn(rule, language);
  return body ? messageIn(body.message, language) : t('errors.server', { status: error.status });
}
