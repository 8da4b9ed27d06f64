import { Alert, Button } from 'antd';
import { useTranslation } from 'react-i18next';

/** A save refused with 412: said plainly, the form keeps what was typed, reload on demand. */
export function StaleAlert({ onReload }: { onReload: () => void }) {
  const { t } = useTranslation();
  return (
    <Alert
      type="warning"
      showIcon
      role="alert"
      title={t('entity.stale')}
      description={t('entity.staleText')}
      action={
        <Button size="small" onClick={onReload}>
          {t('entity.reload')}
        </Button>
      }
    />
  );
}
