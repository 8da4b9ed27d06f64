import { LogoutOutlined, PhoneOutlined } from '@ant-design/icons';
import { useQueryClient } from '@tanstack/react-query';
import { Button, Layout, Menu, Space, Spin, Typography, type MenuProps } from 'antd';
import { useTranslation } from 'react-i18next';
import { Link, Outlet, useLocation, useNavigate } from 'react-router-dom';
import { api } from '../api/client';
import { useMe } from '../auth/me';
import { endSession } from '../auth/session';
import { useSession } from '../auth/useSession';
import { ErrorState } from '../common/ErrorState';
import { LanguageSwitch } from '../common/LanguageSwitch';
import { AccountSwitcher } from './AccountSwitcher';
import { menuFor, menuSections, selectedKey } from './menu';

const { Header, Sider, Content } = Layout;
type MenuItem = NonNullable<MenuProps['items']>[number];

export function AppLayout() {
  const { t } = useTranslation();
  const session = useSession();
  const me = useMe(session !== null);
  const location = useLocation();
  const navigate = useNavigate();
  const client = useQueryClient();

  const signOut = async (): Promise<void> => {
    // The session ends here whatever the server says (it may be down).
    await api.POST('/api/v1/auth/logout').catch(() => undefined);
    endSession('signout');
    client.clear();
    void navigate('/login', { replace: true });
  };

  if (me.isPending) {
    return <Spin fullscreen description={t('app.loading')} />;
  }
  if (me.isError) {
    return <ErrorState error={me.error} onRetry={() => void me.refetch()} />;
  }
  const role = me.data.role;
  const entries = menuFor(role);
  const selected = selectedKey(entries, location.pathname);

  return (
    <Layout style={{ minHeight: '100vh' }}>
      <Sider breakpoint="lg" collapsedWidth={0} theme="light" width={220}>
        <div style={{ padding: 16, fontWeight: 600 }}>
          <PhoneOutlined /> {t('app.title')}
        </div>
        <Menu
          mode="inline"
          aria-label={t('app.title')}
          selectedKeys={selected ? [selected] : []}
          items={menuSections(role).flatMap(({ section, entries: shown }): MenuItem[] => {
            const items = shown.map((entry): MenuItem => ({
              key: entry.key,
              label: <Link to={entry.path}>{t(`menu.${entry.key}`)}</Link>,
            }));
            // always open groups with a heading: nothing hides behind a click
            return section === 'main' ? items : [{ type: 'group', key: `section-${section}`, label: t(`menuSections.${section}`), children: items }];
          })}
        />
      </Sider>
      <Layout>
        <Header
          style={{
            background: 'transparent',
            display: 'flex',
            justifyContent: 'flex-end',
            alignItems: 'center',
            gap: 16,
            paddingInline: 24,
            flexWrap: 'wrap',
          }}
        >
          {role === 'operator' && <AccountSwitcher />}
          <LanguageSwitch />
          <Space>
            <Typography.Text data-testid="current-user">
              {session?.login} · {t(`roles.${role}`)}
            </Typography.Text>
            <Button icon={<LogoutOutlined />} onClick={() => void signOut()}>
              {t('auth.signOut')}
            </Button>
          </Space>
        </Header>
        <Content style={{ padding: 24 }}>
          {role === 'operator' && me.data.account_id == null ? (
            <Typography.Paragraph>{t('account.none')}</Typography.Paragraph>
          ) : (
            <Outlet />
          )}
        </Content>
      </Layout>
    </Layout>
  );
}
