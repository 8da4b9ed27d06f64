import { useQuery } from '@tanstack/react-query';
import { Table, Tag, Typography } from 'antd';
import { useTranslation } from 'react-i18next';
import { api } from '../api/client';
import { unwrap } from '../api/errors';
import { ErrorState } from '../common/ErrorState';

const COLORS: Record<string, string> = { delivered: 'green', pending: 'blue', given_up: 'red' };

/** API-2: a webhook's delivery log (the outbox's rows for it), newest first, asked again every 5 s. */
export function WebhookDeliveries({ id }: { id: number }) {
  const { t, i18n } = useTranslation();
  const deliveries = useQuery({
    queryKey: ['webhooks', id, 'deliveries'],
    queryFn: () =>
      unwrap(api.GET('/api/v1/webhooks/{webhook_id}/deliveries', { params: { path: { webhook_id: id }, query: { limit: 100 } } })),
    refetchInterval: 5000,
  });
  const time = (value: string | null) => (value === null ? '—' : new Date(value).toLocaleString(i18n.language));
  return (
    <section aria-label={t('resources.webhooks.deliveries')}>
      <Typography.Title level={4}>{t('resources.webhooks.deliveries')}</Typography.Title>
      {deliveries.isError ? (
        <ErrorState error={deliveries.error} onRetry={() => void deliveries.refetch()} />
      ) : (
        <Table
          rowKey="id"
          size="small"
          loading={deliveries.isPending}
          dataSource={deliveries.data ?? []}
          locale={{ emptyText: t('resources.webhooks.noDeliveries') }}
          pagination={{ pageSize: 20 }}
          columns={[
            { title: t('resources.webhooks.at'), dataIndex: 'created_at', render: (value: string) => time(value) },
            {
              title: t('resources.webhooks.event'),
              dataIndex: 'event_type',
              render: (value: string) => t(`resources.enums.event.${value}`, { defaultValue: value }),
            },
            {
              title: t('resources.webhooks.state'),
              dataIndex: 'state',
              render: (value: string) => <Tag color={COLORS[value]}>{t(`resources.webhooks.states.${value}`, { defaultValue: value })}</Tag>,
            },
            { title: t('resources.webhooks.attempts'), dataIndex: 'attempts' },
            { title: t('resources.webhooks.status'), dataIndex: 'last_status', render: (value: number | null) => value ?? '—' },
            { title: t('resources.webhooks.reason'), dataIndex: 'last_reason' },
            { title: t('resources.webhooks.next'), dataIndex: 'next_attempt_at', render: (value: string | null) => time(value) },
          ]}
        />
      )}
    </section>
  );
}
