import { ArrowLeftOutlined } from '@ant-design/icons';
import { Alert, Button, Space, Spin, Typography } from 'antd';
import type { ReactNode } from 'react';
import { useTranslation } from 'react-i18next';
import { useNavigate } from 'react-router-dom';
import { ErrorState } from '../common/ErrorState';
import type { EntityForm } from './useEntityForm';
import { StaleAlert } from './StaleAlert';

/**
 * The frame of a configuration form: back, title, read-only note, the 412 "changed by someone
 * else" alert (the form keeps what was typed), errors that name no field, then the form.
 */
export function EditFrame<V, T, B>({
  state,
  back,
  title,
  readOnly,
  children,
  maxWidth = 1100,
  onOverwrite,
}: {
  state: EntityForm<V, T, B>;
  back: string;
  title: string;
  readOnly: string;
  children: ReactNode;
  maxWidth?: number;
  /** offered beside reload when a save was refused with 412 */
  onOverwrite?: () => void;
}) {
  const { t } = useTranslation();
  const navigate = useNavigate();
  if (state.loadError !== null) return <ErrorState error={state.loadError} onRetry={state.reload} />;
  if (state.loading) return <Spin />;
  return (
    <Space orientation="vertical" size="large" style={{ width: '100%', maxWidth }}>
      <Space>
        <Button icon={<ArrowLeftOutlined />} onClick={() => void navigate(back)} aria-label={t('common.back')} />
        <Typography.Title level={2} style={{ margin: 0 }}>
          {title}
        </Typography.Title>
      </Space>
      {!state.editable && <Alert type="info" showIcon title={readOnly} />}
      {state.stale && <StaleAlert onReload={state.reload} onOverwrite={onOverwrite} />}
      {state.otherError !== null && <ErrorState error={state.otherError} />}
      {state.unplaced.length > 0 && <Alert type="error" showIcon title={state.unplaced.join('; ')} role="alert" />}
      {children}
    </Space>
  );
}
