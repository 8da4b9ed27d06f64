import { CopyOutlined, EyeInvisibleOutlined, EyeOutlined, ReloadOutlined } from '@ant-design/icons';
import { App, Button, Card, Descriptions, Popconfirm, Space, Table, Tag, Tooltip, Typography } from 'antd';
import { useState } from 'react';
import { useTranslation } from 'react-i18next';
import { ErrorState } from '../common/ErrorState';
import { regeneratePassword, revealPassword, useRegistration, useSipLine, useSipServer, type Registration } from './api';

function secondsLeft(expiresAt: string, now: number): number {
  return Math.max(0, Math.round((Date.parse(expiresAt) - now) / 1000));
}

/** «зарегистрирован» with each binding (user agent, address, expiry) or «не зарегистрирован». */
export function RegistrationStatus({ registration, now }: { registration: Registration; now: number }) {
  const { t } = useTranslation();
  const label = registration.registered
    ? t('sip.registered')
    : registration.switch_running === false
      ? t('sip.switchDown')
      : t('sip.notRegistered');
  return (
    <Space orientation="vertical" style={{ width: '100%' }}>
      <Tag color={registration.registered ? 'success' : 'default'} data-testid="sip-status">
        {label}
      </Tag>
      {registration.bindings.length > 0 && (
        <Table
          size="small"
          pagination={false}
          rowKey="contact"
          dataSource={registration.bindings}
          columns={[
            { title: t('sip.userAgent'), dataIndex: 'user_agent', key: 'ua' },
            { title: t('sip.address'), dataIndex: 'source', key: 'source' },
            {
              title: t('sip.expires'),
              dataIndex: 'expires_at',
              key: 'expires',
              render: (value: string) => (
                <Tooltip title={new Date(value).toLocaleString()}>
                  {t('sip.expiresIn', { seconds: secondsLeft(value, now) })}
                </Tooltip>
              ),
            },
          ]}
        />
      )}
    </Space>
  );
}

/** SIP-1/SIP-2: what to type into a softphone, and whether it is registered now. */
export function SipLineCard({ lineId, canReveal }: { lineId: number; canReveal: boolean }) {
  const { t } = useTranslation();
  const { message } = App.useApp();
  const line = useSipLine(lineId);
  const server = useSipServer();
  const registration = useRegistration(lineId);
  const [password, setPassword] = useState<string | null>(null);

  const copy = (text: string): void => {
    void navigator.clipboard.writeText(text).then(
      () => void message.success(t('common.copied')),
      () => undefined,
    );
  };
  const reveal = async (): Promise<string> => {
    const value = password ?? (await revealPassword(lineId));
    setPassword(value);
    return value;
  };
  const regenerate = async (): Promise<void> => {
    try {
      setPassword(await regeneratePassword(lineId));
      void message.success(t('sip.regenerated'));
    } catch {
      void message.error(t('sip.regenerateFailed'));
    }
  };

  if (line.isError) return <ErrorState error={line.error} onRetry={() => void line.refetch()} />;
  const login = line.data?.login ?? '';
  return (
    <Card size="small" title={t('sip.title')} data-testid={`sip-line-${lineId}`} loading={line.isPending}>
      <Descriptions size="small" column={{ xs: 1, md: 2 }} bordered>
        <Descriptions.Item label={t('sip.server')}>
          <Typography.Text data-testid="sip-server" copyable>
            {server.data?.host ?? '…'}
          </Typography.Text>
        </Descriptions.Item>
        <Descriptions.Item label={t('sip.port')}>
          <Typography.Text data-testid="sip-port">{server.data?.port ?? '…'}</Typography.Text>
        </Descriptions.Item>
        <Descriptions.Item label={t('sip.login')}>
          <Typography.Text data-testid="sip-login" copyable>
            {login}
          </Typography.Text>
        </Descriptions.Item>
        <Descriptions.Item label={t('sip.password')}>
          <Space>
            <Typography.Text data-testid="sip-password" code>
              {password ?? '••••••••'}
            </Typography.Text>
            {canReveal && (
              <>
                <Button
                  size="small"
                  aria-label={password === null ? t('common.show') : t('common.hide')}
                  icon={password === null ? <EyeOutlined /> : <EyeInvisibleOutlined />}
                  onClick={() => {
                    if (password === null) void reveal();
                    else setPassword(null);
                  }}
                />
                <Button
                  size="small"
                  aria-label={t('common.copy')}
                  icon={<CopyOutlined />}
                  onClick={() => void reveal().then(copy)}
                />
                <Popconfirm
                  title={t('sip.regenerate')}
                  description={t('sip.regenerateConfirm')}
                  okText={t('sip.regenerate')}
                  okButtonProps={{ danger: true }}
                  cancelText={t('common.cancel')}
                  onConfirm={() => void regenerate()}
                >
                  <Button size="small" icon={<ReloadOutlined />} aria-label={t('sip.regenerate')} />
                </Popconfirm>
              </>
            )}
          </Space>
        </Descriptions.Item>
        <Descriptions.Item label={t('sip.status')} span={2}>
          {registration.data ? (
            <RegistrationStatus registration={registration.data} now={registration.dataUpdatedAt} />
          ) : registration.isError ? (
            <ErrorState error={registration.error} onRetry={() => void registration.refetch()} />
          ) : (
            '…'
          )}
          <Typography.Text type="secondary" style={{ fontSize: 12 }}>
            {t('sip.live')}
          </Typography.Text>
        </Descriptions.Item>
      </Descriptions>
    </Card>
  );
}
