import { RocketOutlined } from '@ant-design/icons';
import { useQuery } from '@tanstack/react-query';
import { Button, Card, Typography } from 'antd';
import { useTranslation } from 'react-i18next';
import { useNavigate } from 'react-router-dom';
import { api } from '../api/client';
import { unwrap } from '../api/errors';
import { canEditConfig, useMe } from '../auth/me';

/** Whether the account has no virtual numbers or no employees yet (a new account). */
function useAccountIsNew(enabled: boolean) {
  return useQuery({
    queryKey: ['setup', 'isNew'],
    enabled,
    queryFn: async () => {
      const one = { params: { query: { limit: 1, offset: 0 } } };
      const [numbers, employees] = await Promise.all([
        unwrap(api.GET('/api/v1/numbers', one)),
        unwrap(api.GET('/api/v1/employees', one)),
      ]);
      return numbers.total === 0 || employees.total === 0;
    },
  });
}

/** On the home page of an admin whose account is new: the way into the setup wizard. */
export function SetupPrompt() {
  const { t } = useTranslation();
  const navigate = useNavigate();
  const me = useMe(true);
  const admin = canEditConfig(me.data?.role);
  const isNew = useAccountIsNew(admin);
  if (!admin || isNew.data !== true) return null;
  return (
    <Card role="region" aria-label={t('setup.promptTitle')} style={{ maxWidth: 640 }}>
      <Typography.Title level={4}>{t('setup.promptTitle')}</Typography.Title>
      <Typography.Paragraph>{t('setup.promptText')}</Typography.Paragraph>
      <Button type="primary" icon={<RocketOutlined />} onClick={() => void navigate('/setup')}>
        {t('setup.start')}
      </Button>
    </Card>
  );
}
