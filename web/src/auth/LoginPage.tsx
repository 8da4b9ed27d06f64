import { useQueryClient } from '@tanstack/react-query';
import { Alert, Button, Card, Form, Input, Typography } from 'antd';
import { useState } from 'react';
import { useTranslation } from 'react-i18next';
import { Navigate, useNavigate, useSearchParams } from 'react-router-dom';
import { api } from '../api/client';
import { ApiError, unwrap } from '../api/errors';
import { LanguageSwitch } from '../common/LanguageSwitch';
import { safeNext } from './next';
import { saveSession } from './session';
import { useSession } from './useSession';

interface Credentials {
  login: string;
  password: string;
}

export function LoginPage() {
  const { t } = useTranslation();
  const [params] = useSearchParams();
  const navigate = useNavigate();
  const client = useQueryClient();
  const session = useSession();
  const [failure, setFailure] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [withToken, setWithToken] = useState(false);
  const next = safeNext(params.get('next'));

  if (session !== null) return <Navigate to={next} replace />;

  const signIn = async ({ login, password }: Credentials): Promise<void> => {
    setBusy(true);
    setFailure(null);
    try {
      const tokens = await unwrap(api.POST('/api/v1/auth/login', { body: { login, password } }));
      client.clear();
      saveSession({
        accessToken: tokens.access_token,
        refreshToken: tokens.refresh_token,
        login,
        accountId: null,
      });
      void navigate(next, { replace: true });
    } catch (error) {
      if (error instanceof ApiError && error.status === 401) setFailure(t('auth.badCredentials'));
      else if (error instanceof ApiError && error.status === 429) {
        setFailure(t('auth.tooManyAttempts', { seconds: error.retryAfter ?? 60 }));
      } else if (error instanceof ApiError) setFailure(t('errors.server', { status: error.status }));
      else setFailure(t('errors.network'));
    } finally {
      setBusy(false);
    }
  };

  const signInWithToken = ({ token }: { token: string }): void => {
    client.clear();
    saveSession({ accessToken: token.trim(), refreshToken: null, login: 'operator', accountId: null });
    void navigate(next, { replace: true });
  };

  return (
    <div style={{ minHeight: '100vh', display: 'grid', placeItems: 'center', padding: 16 }}>
      <Card style={{ width: '100%', maxWidth: 400 }}>
        <div style={{ display: 'flex', justifyContent: 'space-between', alignItems: 'center' }}>
          <Typography.Title level={3} style={{ margin: 0 }}>
            {t('app.title')}
          </Typography.Title>
          <LanguageSwitch />
        </div>
        <Typography.Title level={5}>{t('auth.title')}</Typography.Title>
        {params.get('expired') === '1' && (
          <Alert type="info" showIcon title={t('auth.expired')} style={{ marginBottom: 16 }} />
        )}
        {failure !== null && (
          <Alert type="error" showIcon title={failure} role="alert" style={{ marginBottom: 16 }} />
        )}
        {withToken ? (
          <Form layout="vertical" onFinish={signInWithToken} requiredMark={false}>
            <Form.Item
              name="token"
              label={t('auth.operatorTokenLabel')}
              rules={[{ required: true, whitespace: true, message: t('auth.operatorTokenRequired') }]}
            >
              <Input.Password autoComplete="off" />
            </Form.Item>
            <Button type="primary" htmlType="submit" block>
              {t('auth.submit')}
            </Button>
          </Form>
        ) : (
          <Form<Credentials>
            layout="vertical"
            onFinish={(values) => void signIn(values)}
            requiredMark={false}
          >
            <Form.Item
              name="login"
              label={t('auth.login')}
              rules={[{ required: true, whitespace: true, message: t('auth.loginRequired') }]}
            >
              <Input autoComplete="username" autoFocus />
            </Form.Item>
            <Form.Item
              name="password"
              label={t('auth.password')}
              rules={[{ required: true, message: t('auth.passwordRequired') }]}
            >
              <Input.Password autoComplete="current-password" />
            </Form.Item>
            <Button type="primary" htmlType="submit" loading={busy} block>
              {t('auth.submit')}
            </Button>
          </Form>
        )}
        <Button type="link" onClick={() => setWithToken(!withToken)} style={{ paddingInline: 0, marginTop: 8 }}>
          {withToken ? t('auth.withPassword') : t('auth.operatorToken')}
        </Button>
      </Card>
    </div>
  );
}
