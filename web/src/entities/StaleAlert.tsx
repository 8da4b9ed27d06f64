import { Alert, Button, Space } from 'antd';
import { useTranslation } from 'react-i18next';

/**
 * A save refused with 412: said plainly, the form keeps what was typed, reload on demand (or, where
 * the page offers it, overwrite the other version with this one).
 */
export function StaleAlert({ onReload, onOverwrite }: { onReload: () => void; onOverwrite?: () => void }) {
  const { t } = useTranslation();
  return (
    <Alert
      type="warning"
      showIcon
      role="alert"
      title={t('entity.stale')}
      description={t('entity.staleText')}
      action={
        <Space orientation="vertical">
          <Button size="small" onClick={onReload}>
            {t('entity.reload')}
          </Button>
          {onOverwrite && (
            <Button size="small" danger onClick={onOverwrite}>
              {t('entity.overwrite')}
            </Button>
          )}
        </Space>
      }
    />
  );
}
