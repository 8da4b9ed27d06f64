import { ArrowDownOutlined, ArrowLeftOutlined, ArrowUpOutlined, DeleteOutlined, PlusOutlined } from '@ant-design/icons';
import {
  Alert,
  App,
  Button,
  Card,
  Col,
  Form,
  Input,
  InputNumber,
  Row,
  Select,
  Space,
  Spin,
  Switch,
  Typography,
} from 'antd';
import type { Rule } from 'antd/es/form';
import { useEffect, useMemo } from 'react';
import { useTranslation } from 'react-i18next';
import { useNavigate, useParams } from 'react-router-dom';
import { canEditConfig, useMe } from '../auth/me';
import { ErrorState } from '../common/ErrorState';
import { SortableList } from '../common/SortableList';
import { useServerErrors } from '../common/serverErrors';
import { useEmployee, useSaveEmployee } from './api';
import {
  EMAIL,
  EMPTY,
  extensionProblem,
  INTERNATIONAL,
  NEW_PHONE,
  normalizePhone,
  SIP_URI,
  toDocument,
  toValues,
  type EmployeeValues,
  type PhoneKind,
} from './form';
import { SipLineCard } from './SipLineCard';

const FIELDS = new Set(['last_name', 'first_name', 'email', 'extension', 'calls_enabled']);

export default function EmployeeEditPage() {
  const { t } = useTranslation();
  const { message } = App.useApp();
  const navigate = useNavigate();
  const params = useParams();
  const id = params.id === undefined ? null : Number(params.id);
  const me = useMe(true);
  const editable = canEditConfig(me.data?.role);
  const employee = useEmployee(id);
  const save = useSaveEmployee(id);
  const server = useServerErrors();
  const [form] = Form.useForm<EmployeeValues>();
  const phones = Form.useWatch('phones', { form, preserve: true }) as EmployeeValues['phones'] | undefined;

  const initial = useMemo(() => (employee.data ? toValues(employee.data) : EMPTY), [employee.data]);
  useEffect(() => {
    form.setFieldsValue(initial);
  }, [form, initial]);

  if (id !== null && employee.isError) {
    return <ErrorState error={employee.error} onRetry={() => void employee.refetch()} />;
  }
  if (me.isPending || (id !== null && employee.isPending)) return <Spin />;

  const submit = (values: EmployeeValues): void => {
    server.reset();
    save.mutate(toDocument(values, employee.data), {
      onSuccess: (saved) => {
        void message.success(id === null ? t('employees.created') : t('common.saved'));
        if (id === null) void navigate(`/employees/${saved.id}`, { replace: true });
        else form.setFieldsValue(toValues(saved));
      },
      onError: (error) => {
        if (server.take(error)) void message.error(t('errors.fixFields'));
      },
    });
  };

  const kindOptions = (current: PhoneKind | undefined) =>
    (['sip', 'number', 'sip_uri', 'fmc'] as const)
      .filter((kind) => kind !== 'fmc' || current === 'fmc')
      .map((kind) => ({ value: kind, label: t(`employees.kinds.${kind}`) }));

  const extensionRule: Rule = {
    validator: (_rule, value: string | undefined) => {
      const problem = extensionProblem(value ?? '');
      return problem === null ? Promise.resolve() : Promise.reject(new Error(t(problem)));
    },
  };
  const unplaced = server.unplaced((field) => FIELDS.has(field) || field.startsWith('phones.'));
  const saveError = save.error !== null && unplaced.length === 0 && server.errors.length === 0;
  const title =
    id === null ? t('employees.new') : t('employees.editTitle', { name: employee.data?.last_name ?? '' });

  return (
    <Space orientation="vertical" size="large" style={{ width: '100%', maxWidth: 960 }}>
      <Space>
        <Button icon={<ArrowLeftOutlined />} onClick={() => void navigate('/employees')} aria-label={t('common.back')} />
        <Typography.Title level={2} style={{ margin: 0 }}>
          {title}
        </Typography.Title>
      </Space>
      {!editable && <Alert type="info" showIcon title={t('employees.readOnly')} />}
      {saveError && <ErrorState error={save.error} />}
      {unplaced.length > 0 && <Alert type="error" showIcon title={unplaced.join('; ')} role="alert" />}
      <Form<EmployeeValues>
        form={form}
        layout="vertical"
        initialValues={initial}
        disabled={!editable}
        onFinish={submit}
        onValuesChange={(changed: Record<string, unknown>) => server.clear(changed)}
        scrollToFirstError
      >
        <Row gutter={16}>
          <Col xs={24} md={12}>
            <Form.Item
              name="last_name"
              label={t('employees.lastName')}
              rules={[{ required: true, whitespace: true, message: t('employees.rules.lastNameRequired') }, { max: 200 }]}
              {...server.itemProps(['last_name'])}
            >
              <Input autoComplete="off" />
            </Form.Item>
          </Col>
          <Col xs={24} md={12}>
            <Form.Item name="first_name" label={t('employees.firstName')} rules={[{ max: 200 }]} {...server.itemProps(['first_name'])}>
              <Input autoComplete="off" />
            </Form.Item>
          </Col>
          <Col xs={24} md={12}>
            <Form.Item
              name="email"
              label={t('employees.email')}
              rules={[{ pattern: EMAIL, message: t('employees.rules.email') }]}
              {...server.itemProps(['email'])}
            >
              <Input type="email" autoComplete="off" />
            </Form.Item>
          </Col>
          <Col xs={12} md={6}>
            <Form.Item name="extension" label={t('employees.extension')} rules={[extensionRule]} {...server.itemProps(['extension'])}>
              <Input inputMode="numeric" autoComplete="off" />
            </Form.Item>
          </Col>
          <Col xs={12} md={6}>
            <Form.Item
              name="calls_enabled"
              label={t('employees.callsEnabled')}
              valuePropName="checked"
              tooltip={t('employees.callsEnabledHelp')}
            >
              <Switch />
            </Form.Item>
          </Col>
        </Row>

        <Typography.Title level={4}>{t('employees.phones')}</Typography.Title>
        <Typography.Paragraph type="secondary">{t('employees.phonesHelp')}</Typography.Paragraph>
        <Form.List
          name="phones"
          rules={[
            {
              validator: (_rule, value: unknown[] | undefined) =>
                value && value.length > 0 ? Promise.resolve() : Promise.reject(new Error(t('employees.rules.phonesRequired'))),
            },
          ]}
        >
          {(fields, { add, remove, move }, { errors }) => (
            <Space orientation="vertical" style={{ width: '100%' }}>
              <SortableList
                items={fields}
                idOf={(field) => field.key}
                labelOf={(index) => t('employees.phoneN', { index: index + 1 })}
                onMove={({ from, to }) => move(from, to)}
                disabled={!editable}
              >
                {(field, index, handle) => {
                  const phone = phones?.[index];
                  const kind = phone?.kind;
                  return (
                    <Card
                      key={field.key}
                      size="small"
                      data-testid={`phone-${index}`}
                      title={`${index + 1}. ${kind ? t(`employees.kinds.${kind}`) : ''}`}
                      extra={
                        <Space>
                          {handle}
                          <Button size="small" icon={<ArrowUpOutlined />} aria-label={t('common.moveUp')} disabled={!editable || index === 0} onClick={() => move(index, index - 1)} />
                          <Button size="small" icon={<ArrowDownOutlined />} aria-label={t('common.moveDown')} disabled={!editable || index === fields.length - 1} onClick={() => move(index, index + 1)} />
                          <Button size="small" danger icon={<DeleteOutlined />} aria-label={t('common.remove')} disabled={!editable || fields.length === 1} onClick={() => remove(field.name)} />
                        </Space>
                      }
                    >
                      {/* kept as they were read: a SIP phone keeps its line (login, password) */}
                      <Form.Item name={[field.name, 'id']} hidden>
                        <Input />
                      </Form.Item>
                      <Form.Item name={[field.name, 'sip_line_id']} hidden>
                        <InputNumber />
                      </Form.Item>
                      <Form.Item name={[field.name, 'fmc_line_id']} hidden>
                        <InputNumber />
                      </Form.Item>
                      <Row gutter={12}>
                        <Col xs={24} md={6}>
                          <Form.Item name={[field.name, 'kind']} label={t('employees.kind')} {...server.itemProps(['phones', index, 'kind'])}>
                            <Select options={kindOptions(kind)} disabled={!editable || kind === 'fmc'} />
                          </Form.Item>
                        </Col>
                        {kind === 'number' && (
                          <Col xs={24} md={8}>
                            <Form.Item
                              name={[field.name, 'number']}
                              label={t('employees.number')}
                              rules={[
                                { required: true, message: t('employees.rules.number') },
                                {
                                  validator: (_rule, value: string | undefined) =>
                                    INTERNATIONAL.test(normalizePhone(value ?? ''))
                                      ? Promise.resolve()
                                      : Promise.reject(new Error(t('employees.rules.number'))),
                                },
                              ]}
                              {...server.itemProps(['phones', index, 'number'])}
                            >
                              <Input inputMode="tel" placeholder="74951234567" />
                            </Form.Item>
                          </Col>
                        )}
                        {kind === 'sip_uri' && (
                          <Col xs={24} md={8}>
                            <Form.Item
                              name={[field.name, 'sip_uri']}
                              label={t('employees.sipUri')}
                              rules={[{ required: true, pattern: SIP_URI, message: t('employees.rules.sipUri') }]}
                              {...server.itemProps(['phones', index, 'sip_uri'])}
                            >
                              <Input placeholder="101@pbx.example.com" />
                            </Form.Item>
                          </Col>
                        )}
                        <Col xs={12} md={4}>
                          <Form.Item name={[field.name, 'lines']} label={t('employees.lines')} {...server.itemProps(['phones', index, 'lines'])}>
                            <InputNumber min={1} max={100} precision={0} style={{ width: '100%' }} />
                          </Form.Item>
                        </Col>
                        <Col xs={12} md={4}>
                          <Form.Item name={[field.name, 'ring_timeout']} label={t('employees.ringTimeout')} {...server.itemProps(['phones', index, 'ring_timeout'])}>
                            <InputNumber min={5} max={300} precision={0} style={{ width: '100%' }} />
                          </Form.Item>
                        </Col>
                      </Row>
                      {kind === 'sip' &&
                        (phone?.sip_line_id != null ? (
                          <SipLineCard lineId={phone.sip_line_id} canReveal={editable} />
                        ) : (
                          <Typography.Text type="secondary">{t('employees.newSipLine')}</Typography.Text>
                        ))}
                    </Card>
                  );
                }}
              </SortableList>
              <Form.ErrorList errors={errors} />
              {server.itemProps(['phones']).help && (
                <Typography.Text type="danger">{server.itemProps(['phones']).help}</Typography.Text>
              )}
              {editable && (
                <Button icon={<PlusOutlined />} onClick={() => add({ ...NEW_PHONE })}>
                  {t('employees.addPhone')}
                </Button>
              )}
            </Space>
          )}
        </Form.List>
        {editable && (
          <Space style={{ marginTop: 24 }}>
            <Button type="primary" htmlType="submit" loading={save.isPending}>
              {id === null ? t('common.create') : t('common.save')}
            </Button>
            <Button onClick={() => void navigate('/employees')}>{t('common.cancel')}</Button>
          </Space>
        )}
      </Form>
    </Space>
  );
}
