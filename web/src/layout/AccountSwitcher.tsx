import { useQuery, useQueryClient } from '@tanstack/react-query';
import { Select } from 'antd';
import { useTranslation } from 'react-i18next';
import { api } from '../api/client';
import { unwrap } from '../api/errors';
import { loadSession, updateSession } from '../auth/session';

/** The installation operator acts in one account at a time (the X-Account-Id header). */
export function AccountSwitcher() {
  const { t } = useTranslation();
  const client = useQueryClient();
  const accounts = useQuery({
    queryKey: ['accounts'],
    queryFn: () => unwrap(api.GET('/api/v1/accounts')),
  });
  const current = loadSession()?.accountId ?? undefined;
  return (
    <Select<number>
      aria-label={t('account.switcher')}
      data-testid="account-switcher"
      placeholder={t('account.choose')}
      style={{ minWidth: 220 }}
      loading={accounts.isLoading}
      value={current}
      showSearch={{ optionFilterProp: 'label' }}
      onChange={(accountId) => {
        updateSession({ accountId });
        // Everything cached belongs to the previous account.
        void client.resetQueries();
      }}
      options={(accounts.data ?? []).map((account) => ({
        value: account.id,
        label: `${account.name} (#${account.id})`,
      }))}
    />
  );
}
