import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { Alert, App, Button, Card, Col, Form, Input, InputNumber, Radio, Row, Select, Space, Spin, Switch, Typography } from 'antd';
import type { Rule } from 'antd/es/form';
import { useEffect } from 'react';
import { useTranslation } from 'react-i18next';
import { api, type Schemas } from '../api/client';
import { unwrap } from '../api/errors';
import { canEditConfig, useMe } from '../auth/me';
import { ErrorState } from '../common/ErrorState';
import { useServerErrors } from '../common/serverErrors';
import { accountDocument } from './account';

type Account = Schemas['Account'];

const PREFIX = /^[1-9]\d{0,14}$/;
const FIELDS = ['name', 'timezone', 'transfer_caller_id', 'sip_uri_transfer', 'record_calls', 'callback_enabled', 'lead_callback_enabled', 'toll_fraud'];

export default function AccountSettingsPage() {
  const { t } = useTranslation();
  const { message } = App.useApp();
  const client = useQueryClient();
  const me = useMe(true);
  const role = me.data?.role;
  const editable = canEditConfig(role);
  const server = useServerErrors();
  const [form] = Form.useForm<Account>();
  const account = useQuery({ queryKey: ['account'], queryFn: () => unwrap(api.GET('/api/v1/account')) });
  const save = useMutation({
    mutationFn: (body: Account) => unwrap(api.PUT('/api/v1/account', { body })),
    onSuccess: (saved) => client.setQueryData(['account'], saved),
  });
  useEffect(() => {
    if (account.data !== undefined) form.setFieldsValue(account.data);
  }, [form, account.data]);

  if (account.isError) return <ErrorState error={account.error} onRetry={() => void account.refetch()} />;
  if (account.isPending || me.isPending) return <Spin />;
  const loaded = account.data;
  const prefixes: Rule = {
    validator: (_rule, value: unknown) =>
      Array.isArray(value) && value.some((item) => typeof item !== 'string' || !PREFIX.test(item))
        ? Promise.reject(new Error(t('accountSettings.prefixRule')))
        : Promise.resolve(),
  };
  const submit = (values: Partial<Account>): void => {
    server.reset();
    save.mutate(accountDocument(values, loaded), {
      onSuccess: () => void message.success(t('common.saved')),
      onError: (error) => {
        if (server.take(error)) void message.error(t('errors.fixFields'));
      },
    });
  };
  const unplaced = server.unplaced((field) => FIELDS.some((name) => field === name || field.startsWith(`${name}.`)));

  return (
    <Space orientation="vertical" size="large" style={{ width: '100%', maxWidth: 960 }}>
      <Typography.Title level={2} style={{ margin: 0 }}>
        {t('accountSettings.title')}
      </Typography.Title>
      {!editable && <Alert type="info" showIcon title={t('resources.common.readOnly')} />}
      {save.isError && server.errors.length === 0 && <ErrorState error={save.error} />}
      {unplaced.length > 0 && <Alert type="error" showIcon role="alert" title={unplaced.join('; ')} />}
      <Form<Account>
        form={form}
        layout="vertical"
        initialValues={loaded}
        disabled={!editable}
        onFinish={submit}
        onValuesChange={(changed: Record<string, unknown>) => server.clear(changed)}
      >
        <Row gutter={16}>
          <Col xs={24} md={12}>
            <Form.Item name="name" label={t('accountSettings.name')} rules={[{ required: true, whitespace: true, max: 200 }]} {...server.itemProps(['name'])}>
              <Input />
            </Form.Item>
          </Col>
          <Col xs={24} md={12}>
            <Form.Item
              name="timezone"
              label={t('accountSettings.timezone')}
              rules={[{ required: true, pattern: /^[A-Za-z_]+(\/[A-Za-z0-9_+-]+)*$/, message: t('accountSettings.timezoneRule') }]}
              {...server.itemProps(['timezone'])}
            >
              <Input placeholder="Europe/Moscow" />
            </Form.Item>
          </Col>
          <Col xs={24} md={12}>
            <Form.Item name="transfer_caller_id" label={t('accountSettings.transferCallerId')} {...server.itemProps(['transfer_caller_id'])}>
              <Radio.Group
                options={(['virtual_number', 'caller'] as const).map((value) => ({ value, label: t(`accountSettings.transfer.${value}`) }))}
              />
            </Form.Item>
          </Col>
          <Col xs={24} md={12}>
            {/* a paid option: the PBX's operator turns it on, an admin sees it */}
            <Form.Item
              name="sip_uri_transfer"
              label={t('accountSettings.sipUriTransfer')}
              tooltip={t('accountSettings.sipUriHelp')}
              valuePropName="checked"
              {...server.itemProps(['sip_uri_transfer'])}
            >
              <Switch disabled={role !== 'operator'} />
            </Form.Item>
          </Col>
          <Col xs={24} md={8}>
            <Form.Item name="record_calls" label={t('accountSettings.recordCalls')} valuePropName="checked">
              <Switch />
            </Form.Item>
          </Col>
          <Col xs={24} md={8}>
            <Form.Item name="callback_enabled" label={t('accountSettings.callbackEnabled')} valuePropName="checked">
              <Switch />
            </Form.Item>
          </Col>
          <Col xs={24} md={8}>
            <Form.Item name="lead_callback_enabled" label={t('accountSettings.leadCallbackEnabled')} valuePropName="checked">
              <Switch />
            </Form.Item>
          </Col>
        </Row>
        <Card title={t('accountSettings.tollFraud')} size="small" style={{ marginBottom: 24 }}>
          <Row gutter={16}>
            <Col xs={24} md={12}>
              <Form.Item
                name={['toll_fraud', 'allowed_prefixes']}
                label={t('accountSettings.allowedPrefixes')}
                rules={[prefixes]}
                extra={t('resources.common.typeAndEnter')}
                {...server.itemProps(['toll_fraud', 'allowed_prefixes'])}
              >
                <Select mode="tags" open={false} suffix={null} tokenSeparators={[',', ' ', ';']} />
              </Form.Item>
            </Col>
            <Col xs={24} md={12}>
              <Form.Item
                name={['toll_fraud', 'blocked_prefixes']}
                label={t('accountSettings.blockedPrefixes')}
                rules={[prefixes]}
                extra={t('resources.common.typeAndEnter')}
                {...server.itemProps(['toll_fraud', 'blocked_prefixes'])}
              >
                <Select mode="tags" open={false} suffix={null} tokenSeparators={[',', ' ', ';']} />
              </Form.Item>
            </Col>
            <Col xs={12}>
              <Form.Item
                name={['toll_fraud', 'max_simultaneous_calls']}
                label={t('accountSettings.maxSimultaneous')}
                {...server.itemProps(['toll_fraud', 'max_simultaneous_calls'])}
              >
                <InputNumber min={0} max={100000} precision={0} style={{ width: '100%' }} />
              </Form.Item>
            </Col>
            <Col xs={12}>
              <Form.Item
                name={['toll_fraud', 'max_minutes_per_hour']}
                label={t('accountSettings.maxMinutes')}
                {...server.itemProps(['toll_fraud', 'max_minutes_per_hour'])}
              >
                <InputNumber min={0} max={6000000} precision={0} style={{ width: '100%' }} />
              </Form.Item>
            </Col>
          </Row>
        </Card>
        {editable && (
          <Button type="primary" htmlType="submit" loading={save.isPending}>
            {t('common.save')}
          </Button>
        )}
      </Form>
    </Space>
  );
}
