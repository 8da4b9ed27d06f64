import { Result } from 'antd';
import { useTranslation } from 'react-i18next';

/** A menu entry whose screen a later slice of issue 14 builds. */
export function NotReady() {
  const { t } = useTranslation();
  return <Result status="info" title={t('notReady.title')} subTitle={t('notReady.text')} />;
}
