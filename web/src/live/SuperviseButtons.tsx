// TRN-1 from the live view: the supervisor joins a call from his own phone.
import { useMutation } from '@tanstack/react-query';
import { App, Button, Space, Tag } from 'antd';
import type { TFunction } from 'i18next';
import { useTranslation } from 'react-i18next';
import { api, type Schemas } from '../api/client';
import { ApiError, unwrap } from '../api/errors';
import { messageIn } from '../files/api';
import type { LiveCall } from './reducer';

export type SuperviseMode = Schemas['SuperviseMode'];
const MODES: SuperviseMode[] = ['listen', 'whisper', 'barge'];

/** Why the PBX will not ring him, in the user's language (a known error_id, else the API's). */
function refusal(error: unknown, t: TFunction, language: string): string {
  if (!(error instanceof ApiError) || error.body === null) return t('errors.network');
  const known = t(`live.supervise.errors.${error.body.error_id}`, { defaultValue: '' });
  return known !== '' ? known : messageIn(error.body.message, language);
}

/**
 * «Слушать», «Подсказывать», «Вмешаться» on a call someone talks in: the PBX rings the signed-in
 * user's phone and, when he answers, he joins the call in that mode. A call someone supervises
 * shows who does and how instead (one supervisor at a time).
 */
export function SuperviseButtons({ call, nameOf }: { call: LiveCall; nameOf: (id: number) => string }) {
  const { t, i18n } = useTranslation();
  const { message } = App.useApp();
  const ask = useMutation({
    mutationFn: (mode: SuperviseMode) =>
      unwrap(
        api.POST('/api/v1/live/calls/{call_id}/supervise', {
          params: { path: { call_id: call.call_id } },
          body: { mode },
        }),
      ),
    onSuccess: () => void message.success(t('live.supervise.ringing')),
    onError: (error) => void message.error(refusal(error, t, i18n.language)),
  });
  if (call.supervisor != null) {
    const how = call.supervise_mode ?? 'joining';
    return (
      <Tag color="blue" data-testid="supervisor" style={{ whiteSpace: 'normal' }}>
        {t(`live.supervise.in.${how}`, { name: nameOf(call.supervisor) })}
      </Tag>
    );
  }
  if (call.talker === null) return null;
  // wrapped, not compact: three buttons side by side overflowed the calls card into the
  // employees' at the two-column width
  return (
    <Space wrap size={[4, 4]}>
      {MODES.map((mode) => (
        <Button
          key={mode}
          size="small"
          loading={ask.isPending && ask.variables === mode}
          disabled={ask.isPending}
          onClick={() => ask.mutate(mode)}
        >
          {t(`live.supervise.modes.${mode}`)}
        </Button>
      ))}
    </Space>
  );
}
