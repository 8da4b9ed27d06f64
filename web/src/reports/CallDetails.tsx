import { Descriptions, Drawer, Empty, Space, Spin, Tag, Timeline, Typography } from 'antd';
import { useTranslation } from 'react-i18next';
import { ErrorState } from '../common/ErrorState';
import { AudioPlayer } from '../files/AudioPlayer';
import { useCallDetails, type CallOut, type CallStep } from './api';
import { clock } from './filters';
import { stepColor, stepTime } from './steps';

export function StepsTimeline({ steps }: { steps: readonly CallStep[] }) {
  const { t, i18n } = useTranslation();
  if (steps.length === 0) return <Empty description={t('calls.noSteps')} />;
  return (
    <Timeline
      data-testid="call-timeline"
      items={steps.map((step, index) => ({
        key: index,
        color: stepColor(step.kind),
        title: (
          <Space size={4} wrap>
            <Typography.Text type="secondary">{stepTime(step.at, i18n.language)}</Typography.Text>
            <Tag>{step.kind}</Tag>
            {step.leg && <Typography.Text type="secondary">{t('calls.leg', { leg: step.leg })}</Typography.Text>}
          </Space>
        ),
        content: <span data-testid="call-step">{step.text}</span>,
      }))}
    />
  );
}

/** CDR-2: why the call went where it went, as a timeline, with its recordings played here. */
export function CallDetails({ call, onClose }: { call: CallOut | null; onClose: () => void }) {
  const { t, i18n } = useTranslation();
  const details = useCallDetails(call?.id ?? null);
  return (
    <Drawer
      open={call !== null}
      onClose={onClose}
      size="large"
      title={call ? t('calls.detailsTitle', { id: call.id }) : ''}
      destroyOnHidden
    >
      {call && (
        <Space orientation="vertical" size="middle" style={{ width: '100%' }}>
          <Descriptions size="small" column={1} bordered>
            <Descriptions.Item label={t('calls.columns.started_at')}>
              {new Date(call.started_at).toLocaleString(i18n.language === 'en' ? 'en-GB' : 'ru-RU')}
            </Descriptions.Item>
            <Descriptions.Item label={t('calls.columns.direction')}>{t(`calls.direction.${call.direction}`)}</Descriptions.Item>
            <Descriptions.Item label={t('calls.columns.status')}>{t(`calls.status.${call.status}`)}</Descriptions.Item>
            <Descriptions.Item label={t('calls.columns.caller')}>{call.caller}</Descriptions.Item>
            <Descriptions.Item label={t('calls.columns.called')}>{call.called}</Descriptions.Item>
            <Descriptions.Item label={t('calls.columns.talk_seconds')}>{clock(call.talk_seconds)}</Descriptions.Item>
          </Descriptions>
          {call.recording_file_ids.length > 0 && (
            <div>
              <Typography.Title level={5}>{t('calls.recordings')}</Typography.Title>
              <Space orientation="vertical">
                {call.recording_file_ids.map((id) => (
                  <AudioPlayer key={id} fileId={id} name={`${call.caller} → ${call.called}`} />
                ))}
              </Space>
            </div>
          )}
          {details.isPending ? (
            <Spin />
          ) : details.isError ? (
            <ErrorState error={details.error} onRetry={() => void details.refetch()} />
          ) : (
            <StepsTimeline steps={details.data} />
          )}
        </Space>
      )}
    </Drawer>
  );
}
