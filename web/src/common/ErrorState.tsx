import { Button, Result } from 'antd';
import { useTranslation } from 'react-i18next';
import { ApiError, NetworkError } from '../api/errors';

/** A failed load, said plainly, with a retry: never a blank page. */
export function ErrorState({ error, onRetry }: { error: unknown; onRetry?: () => void }) {
  const { t } = useTranslation();
  let text = t('errors.network');
  let status: 'error' | 'warning' | '403' | '404' | '500' = 'warning';
  if (error instanceof ApiError) {
    if (error.status === 403) {
      text = t('errors.forbidden');
      status = '403';
    } else if (error.status === 404) {
      text = t('errors.notFound');
      status = '404';
    } else {
      text = t('errors.server', { status: error.status });
      status = error.status >= 500 ? '500' : 'error';
    }
  } else if (!(error instanceof NetworkError) && error instanceof Error && error.message) {
    text = `${t('errors.network')} (${error.message})`;
  }
  return (
    <Result
      status={status}
      title={t('errors.title')}
      subTitle={<span role="alert">{text}</span>}
      extra={
        onRetry && (
          <Button type="primary" onClick={onRetry}>
            {t('errors.retry')}
          </Button>
        )
      }
    />
  );
}
