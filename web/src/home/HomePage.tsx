import { Typography } from 'antd';
import { useTranslation } from 'react-i18next';
import { useMe } from '../auth/me';
import { useSession } from '../auth/useSession';
import { SetupPrompt } from '../setup/SetupPrompt';

export function HomePage() {
  const { t } = useTranslation();
  const session = useSession();
  const me = useMe(session !== null);
  return (
    <>
      <Typography.Title level={2}>{t('home.welcome')}</Typography.Title>
      {me.data && (
        <Typography.Paragraph>
          {t('home.signedInAs', { login: session?.login ?? '', role: t(`roles.${me.data.role}`) })}
        </Typography.Paragraph>
      )}
      <SetupPrompt />
    </>
  );
}
